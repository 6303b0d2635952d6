"""Path-traced renderer: Blender (bpy) with Cycles, CPU or GPU, for realistic materials.

The scene (camera, lights, world, render settings) is built once and kept alive across views
and objects; per object only its meshes, materials and images are created and then removed
(with an orphan purge), and Cycles' persistent data stays off: both keep a long run's memory
flat (Blender is known to leak across scenes).
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from aist_app import hookimpl
from aist_app.api.renderer import RenderedView, Renderer, RenderOptions, ViewJob

#: Blender point-light watts per AIST light unit: P = 4*pi*I matches pyrender's radiance
#: I/d^2 for a diffuse surface; the extra factor is pyrender's intensity scale.
_WATTS_PER_UNIT = 4.0 * math.pi * 9.0


CYCLES_BACKENDS = ("OPTIX", "CUDA", "HIP", "ONEAPI", "METAL")


def cycles_gpus(bpy) -> tuple[str | None, list]:
    """The first Cycles GPU backend with devices here, and its devices (None, [] on a
    machine without one). Leaves that backend selected in the preferences."""
    try:
        prefs = bpy.context.preferences.addons["cycles"].preferences
    except KeyError:
        return None, []
    for backend in CYCLES_BACKENDS:
        try:
            prefs.compute_device_type = backend
            prefs.get_devices()
        except (TypeError, ValueError):
            continue
        gpus = [d for d in prefs.devices if d.type == backend]
        if gpus:
            return backend, gpus
    return None, []


def _cycles_device(bpy, device: str) -> str:
    """Configure Cycles for ``device`` (auto|cpu|cuda[:N]); returns "CPU" or "GPU"."""
    if device == "cpu":
        return "CPU"
    backend, gpus = cycles_gpus(bpy)
    if gpus:
        index = int(device.partition(":")[2] or -1) if device.startswith("cuda") else -1
        if index >= len(gpus):
            from aist_app.common.devices import DeviceError

            raise DeviceError(f"--device {device}: Blender found {len(gpus)} {backend} "
                              "device(s), numbered from 0")
        for k, d in enumerate(gpus):
            d.use = index < 0 or k == index
        for d in bpy.context.preferences.addons["cycles"].preferences.devices:
            if d.type == "CPU":
                d.use = False
        return "GPU"
    if device.startswith("cuda"):
        from aist_app.common.devices import DeviceError

        raise DeviceError(f"--device {device}: Blender found no GPU for Cycles (OptiX, CUDA, "
                          "HIP, oneAPI or Metal); use --device cpu or auto")
    return "CPU"


class BlenderRenderer(Renderer):
    """Blender Cycles path tracer (bpy), shared camera convention and outputs."""

    name = "blender"
    description = "Blender Cycles path tracer (bpy) with realistic materials; CPU or GPU"
    needs_gpu = False
    supports_looks = True  # --look varied: paint, dirt and sky per object (aist_app.scene.looks)

    def __init__(self, options: RenderOptions) -> None:
        import bpy

        self.bpy = bpy
        self.options = options
        self._tmp = Path(tempfile.mkdtemp(prefix="aist-blender-"))
        bpy.ops.wm.read_factory_settings(use_empty=True)
        scene = bpy.context.scene
        self.scene = scene
        h, w = options.image_size
        scene.render.engine = "CYCLES"
        scene.cycles.device = _cycles_device(bpy, options.device)
        self.device_used = "cpu"
        if scene.cycles.device == "GPU":
            prefs = bpy.context.preferences.addons["cycles"].preferences
            self.device_used = f"gpu ({prefs.compute_device_type})"
        scene.cycles.samples = int(options.samples)
        scene.cycles.use_adaptive_sampling = False
        scene.cycles.use_denoising = False
        scene.cycles.seed = 0
        scene.cycles.max_bounces = 4
        # Box filter of one pixel: alpha is the fraction of samples that hit the object.
        scene.cycles.pixel_filter_type = "BOX"
        scene.cycles.filter_width = 1.0
        scene.render.film_transparent = True
        scene.render.resolution_x = w
        scene.render.resolution_y = h
        scene.render.resolution_percentage = 100
        # No persistent data: it saves nothing measurable at these sizes, and Cycles keeps
        # part of every removed object in it (+1.2 MB an object; off: flat, bench/render.py).
        scene.render.use_persistent_data = False
        if options.threads > 0:
            scene.render.threads_mode = "FIXED"
            scene.render.threads = int(options.threads)
        settings = scene.render.image_settings
        settings.file_format = "PNG"
        settings.color_mode = "RGBA"
        settings.color_depth = "8"
        settings.compression = 0
        scene.view_settings.view_transform = "Standard"
        scene.view_settings.look = "None"
        # World: uniform grey ambient light (invisible: transparent film).
        world = bpy.data.worlds.new("aist-world")
        scene.world = world
        world.use_nodes = True
        self._background = world.node_tree.nodes["Background"]
        # Camera.
        cam_data = bpy.data.cameras.new("aist-camera")
        cam_data.clip_start, cam_data.clip_end = 0.05, 100.0
        self.camera = bpy.data.objects.new("aist-camera", cam_data)
        scene.collection.objects.link(self.camera)
        scene.camera = self.camera
        self._lights: list = []
        self._objects: list = []
        self._datablocks: list = []

    # -- scene set-up ------------------------------------------------------------------------
    def _set_camera(self, job: ViewJob) -> None:
        from mathutils import Matrix

        h, w = self.options.image_size
        K = job.camera.K
        cam = self.camera.data
        cam.sensor_fit = "HORIZONTAL" if w >= h else "VERTICAL"
        cam.sensor_width = cam.sensor_height = 36.0
        cam.lens = float(K[0, 0]) * 36.0 / max(w, h)
        cam.shift_x = float((w / 2.0 - K[0, 2]) / max(w, h))
        cam.shift_y = float((K[1, 2] - h / 2.0) / max(w, h))
        self.camera.matrix_world = Matrix(job.camera.camera_to_world_gl().tolist())

    def _set_lights(self, job: ViewJob) -> None:
        bpy = self.bpy
        lights = job.lights.lights
        while len(self._lights) < len(lights):
            data = bpy.data.lights.new(f"aist-light-{len(self._lights)}", "POINT")
            data.shadow_soft_size = 0.25
            obj = bpy.data.objects.new(data.name, data)
            self.scene.collection.objects.link(obj)
            self._lights.append(obj)
        for k, obj in enumerate(self._lights):
            if k < len(lights):
                light = lights[k]
                obj.hide_render = False
                obj.location = light.position
                obj.data.color = light.color
                obj.data.energy = light.intensity * _WATTS_PER_UNIT
            else:
                obj.hide_render = True
        if job.look is None:
            a = job.lights.ambient
            self._background.inputs["Color"].default_value = (a, a, a, 1.0)
            self._background.inputs["Strength"].default_value = 1.0

    def _set_world(self, look) -> None:
        """A uniform ambient (as-is), or the look's sky: a ground / horizon / zenith gradient
        over the view direction's height, lighting the object (the film stays transparent)."""
        nodes = self.scene.world.node_tree.nodes
        links = self.scene.world.node_tree.links
        for n in [n for n in nodes if n.name.startswith("aist-sky")]:
            nodes.remove(n)
        if look is None:
            return
        coord = nodes.new("ShaderNodeTexCoord")
        coord.name = "aist-sky-coord"
        xyz = nodes.new("ShaderNodeSeparateXYZ")
        xyz.name = "aist-sky-xyz"
        ramp = nodes.new("ShaderNodeValToRGB")
        ramp.name = "aist-sky-ramp"
        span = nodes.new("ShaderNodeMapRange")  # height -1..1 -> 0..1
        span.name = "aist-sky-span"
        span.inputs["From Min"].default_value = -1.0
        elements = ramp.color_ramp.elements
        elements[0].position, elements[0].color = 0.0, (*look.ground, 1.0)
        elements[1].position, elements[1].color = 1.0, (*look.zenith, 1.0)
        for pos, col in ((0.49, look.ground), (0.52, look.horizon)):
            e = elements.new(pos)
            e.color = (*col, 1.0)
        # World "Generated" coordinates are the view direction; z is up in Blender.
        links.new(coord.outputs["Generated"], xyz.inputs["Vector"])
        links.new(xyz.outputs["Z"], span.inputs["Value"])
        links.new(span.outputs["Result"], ramp.inputs["Fac"])
        links.new(ramp.outputs["Color"], self._background.inputs["Color"])
        self._background.inputs["Strength"].default_value = look.env_strength

    def _dress(self, mesh, look) -> None:
        """Paint the body (the parts named body/paint, else the largest part), soil it with
        procedural noise, and jitter the other parts' roughness."""
        areas = [float(getattr(p, "area", len(p.faces))) for p in mesh.parts]
        named = [k for k, m in enumerate(mesh.materials)
                 if any(w in (m.name or "").lower() for w in ("body", "paint"))]
        body = set(named or [int(np.argmax(areas))])
        for k, obj in enumerate(self._objects):
            bsdf = obj.data.materials[0].node_tree.nodes.get("Principled BSDF")
            tree = obj.data.materials[0].node_tree
            if k in body:
                for link in list(bsdf.inputs["Base Color"].links):
                    tree.links.remove(link)
                bsdf.inputs["Metallic"].default_value = look.metallic
                bsdf.inputs["Roughness"].default_value = look.roughness
                if "Coat Weight" in bsdf.inputs:
                    bsdf.inputs["Coat Weight"].default_value = look.coat
                noise = tree.nodes.new("ShaderNodeTexNoise")
                noise.inputs["Scale"].default_value = look.dirt_scale
                mix = tree.nodes.new("ShaderNodeMix")
                mix.data_type = "RGBA"
                mix.blend_type = "MULTIPLY"
                mix.inputs["A"].default_value = (*look.paint, 1.0)
                dirt = tree.nodes.new("ShaderNodeMath")
                dirt.operation = "MULTIPLY"
                dirt.inputs[1].default_value = look.dirt
                tree.links.new(noise.outputs["Fac"], dirt.inputs[0])
                tree.links.new(dirt.outputs["Value"], mix.inputs["Factor"])
                mix.inputs["B"].default_value = (0.25, 0.2, 0.15, 1.0)  # road dust
                tree.links.new(mix.outputs["Result"], bsdf.inputs["Base Color"])
            else:
                r = bsdf.inputs["Roughness"].default_value
                bsdf.inputs["Roughness"].default_value = float(np.clip(
                    r * (0.6 + 0.8 * look.dirt), 0.05, 1.0))

    def _material(self, mat, index: int):
        bpy = self.bpy
        m = bpy.data.materials.new(f"aist-mat-{index}")
        self._datablocks.append(("materials", m))
        m.use_nodes = True
        nodes, links = m.node_tree.nodes, m.node_tree.links
        bsdf = nodes.get("Principled BSDF")
        bsdf.inputs["Base Color"].default_value = mat.base_color
        bsdf.inputs["Metallic"].default_value = mat.metallic
        bsdf.inputs["Roughness"].default_value = mat.roughness
        bsdf.inputs["Alpha"].default_value = mat.base_color[3]
        if mat.texture is not None:
            img = self._image(mat.texture, index)
            tex = nodes.new("ShaderNodeTexImage")
            tex.image = img
            mix = nodes.new("ShaderNodeMix")
            mix.data_type = "RGBA"
            mix.blend_type = "MULTIPLY"
            mix.inputs["Factor"].default_value = 1.0
            mix.inputs["A"].default_value = mat.base_color
            links.new(tex.outputs["Color"], mix.inputs["B"])
            links.new(mix.outputs["Result"], bsdf.inputs["Base Color"])
        elif mat.vertex_colors is not None or mat.face_colors is not None:
            attr = nodes.new("ShaderNodeVertexColor")
            attr.layer_name = "Col"
            links.new(attr.outputs["Color"], bsdf.inputs["Base Color"])
        return m

    def _image(self, pil_image, index: int):
        bpy = self.bpy
        im = pil_image.convert("RGBA")
        w, h = im.size
        img = bpy.data.images.new(f"aist-tex-{index}", w, h, alpha=True)
        self._datablocks.append(("images", img))
        px = np.asarray(im, dtype=np.float32)[::-1] / 255.0  # Blender rows go bottom-up
        img.pixels.foreach_set(px.ravel())
        img.pack()
        return img

    def _mesh(self, part, mat, index: int):
        bpy = self.bpy
        verts = np.asarray(part.vertices, dtype=np.float32)
        faces = np.asarray(part.faces, dtype=np.int32)
        me = bpy.data.meshes.new(f"aist-mesh-{index}")
        self._datablocks.append(("meshes", me))
        me.vertices.add(len(verts))
        me.vertices.foreach_set("co", verts.ravel())
        me.loops.add(faces.size)
        me.loops.foreach_set("vertex_index", faces.ravel())
        me.polygons.add(len(faces))
        me.polygons.foreach_set("loop_start", np.arange(0, faces.size, 3, dtype=np.int32))
        if mat.texture is not None:
            uv = me.uv_layers.new(name="UVMap")
            uv.data.foreach_set("uv", mat.uv[faces].astype(np.float32).ravel())
        elif mat.vertex_colors is not None or mat.face_colors is not None:
            col = me.color_attributes.new("Col", "BYTE_COLOR", "CORNER")
            c = (mat.vertex_colors[faces] if mat.vertex_colors is not None
                 else np.repeat(mat.face_colors[:, None], 3, axis=1))
            rgba = (c.reshape(-1, 4) / 255.0).astype(np.float32)
            col.data.foreach_set("color_srgb", rgba.ravel())
        me.update()
        me.materials.append(self._material(mat, index))
        obj = bpy.data.objects.new(f"aist-object-{index}", me)
        self.scene.collection.objects.link(obj)
        self._objects.append(obj)
        return obj

    def _clear_object(self) -> None:
        bpy = self.bpy
        for obj in self._objects:
            bpy.data.objects.remove(obj, do_unlink=True)
        self._objects.clear()
        for coll, block in reversed(self._datablocks):
            getattr(bpy.data, coll).remove(block)
        self._datablocks.clear()
        bpy.data.orphans_purge(do_local_ids=True, do_linked_ids=True, do_recursive=True)

    # -- rendering ---------------------------------------------------------------------------
    def render(self, mesh, views: list[ViewJob]) -> Iterator[RenderedView]:
        from PIL import Image

        for k, (part, mat) in enumerate(zip(mesh.parts, mesh.materials, strict=True)):
            self._mesh(part, mat, k)
        look = views[0].look if views else None
        if look is not None:
            self._dress(mesh, look)
        self._set_world(look)
        bvh = self._bvh(mesh) if self.options.depth else None
        out = self._tmp / "view.png"
        try:
            for job in views:
                self._set_camera(job)
                self._set_lights(job)
                self.scene.render.filepath = str(out)
                with quiet_stdout(self._tmp / "blender.log"):
                    self.bpy.ops.render.render(write_still=True)
                with Image.open(out) as im:
                    rgba = np.asarray(im.convert("RGBA"), dtype=np.uint8).copy()
                rgba[rgba[..., 3] == 0] = 0
                depth = self._depth(bvh, job) if bvh is not None else None
                yield RenderedView(rgba=rgba, depth=depth)
        finally:
            self._clear_object()

    def _bvh(self, mesh):
        from mathutils.bvhtree import BVHTree

        verts = np.concatenate([p.vertices for p in mesh.parts]).tolist()
        faces, offset = [], 0
        for p in mesh.parts:
            faces += (np.asarray(p.faces) + offset).tolist()
            offset += len(p.vertices)
        return BVHTree.FromPolygons(verts, faces, all_triangles=True)

    def _depth(self, bvh, job: ViewJob) -> np.ndarray:
        """Camera-z depth at each pixel centre by ray casting the object (0: background)."""
        from mathutils import Vector

        h, w = self.options.image_size
        cam = job.camera
        Kinv = np.linalg.inv(cam.K)
        jj, ii = np.mgrid[0:h, 0:w]
        pix = np.stack([ii + 0.5, jj + 0.5, np.ones_like(ii)], -1).reshape(-1, 3).astype(float)
        dirs_cam = pix @ Kinv.T
        dirs = dirs_cam @ cam.R  # camera -> world: R^T d
        origin = Vector(cam.centre.tolist())
        depth = np.zeros(h * w, dtype=np.float32)
        for n, d in enumerate(dirs):
            hit = bvh.ray_cast(origin, Vector(d.tolist()))[0]
            if hit is not None:
                depth[n] = float(np.dot(cam.R[2], np.asarray(hit) - cam.centre))
        return depth.reshape(h, w)

    def close(self) -> None:
        import shutil

        if self._objects or self._datablocks:
            self._clear_object()
        shutil.rmtree(self._tmp, ignore_errors=True)


@contextmanager
def quiet_stdout(log: Path):
    """Send what Blender's C code prints (one line per render) to ``log``, not the terminal."""
    import sys

    sys.stdout.flush()
    saved = os.dup(1)
    with open(log, "ab") as f:
        os.dup2(f.fileno(), 1)
        try:
            yield
        finally:
            sys.stdout.flush()
            os.dup2(saved, 1)
            os.close(saved)


@hookimpl
def aist_register_stages(registry) -> None:
    registry.add_renderer(BlenderRenderer)


_BLENDER_CHECK = """
import bpy
from aist_plugins.blender_renderer import cycles_gpus
backend, gpus = cycles_gpus(bpy)
print(bpy.app.version_string + ' | ' + (', '.join(f'{backend}:{d.name}' for d in gpus)
                                        or 'CPU only'))
"""


def check_blender(options):
    """bpy starts (in a subprocess) and which Cycles devices it sees."""
    from aist_app.api.checks import Check, run_python

    code, out = run_python(_BLENDER_CHECK, timeout=120)
    if code != 0:
        return Check("blender", "missing", f"bpy does not start: {out}",
                     "pip install bpy==5.0.1 (Python 3.11); apt-get install libxi6 libxkbcommon0 "
                     "libsm6")
    version, _, devices = out.partition(" | ")
    return Check("blender", "ok", f"Blender {version}, Cycles devices: {devices}",
                 "" if "CPU only" not in devices else
                 "Cycles renders on the CPU (slower); a GPU needs its driver",
                 {"version": version, "devices": devices})


@hookimpl
def aist_register_checks(checks) -> None:
    checks.add("blender", check_blender, stages=("render-blender",))
