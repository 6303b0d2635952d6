"""The default renderer: pyrender (OpenGL) offscreen through EGL, CPU (Mesa) or GPU."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from aist_app import hookimpl
from aist_app.api.renderer import RenderedView, Renderer, RenderOptions, ViewJob
from aist_app.scene.meshes import sample_surface

#: Surface points (sampled once per object) that each view's coverage check projects.
CHECK_POINTS = 20_000
#: A view whose samples miss more of the pixels these points fall in goes up a tier.
MIN_COVERAGE = 0.95
#: pyrender light units per AIST light unit (point light at ~3 units from the object).
_INTENSITY_SCALE = 9.0
_MESA_EGL_VENDOR = "/usr/share/glvnd/egl_vendor.d/50_mesa.json"
_SHADERS = Path(__file__).with_name("shaders")


def preload_triton() -> None:
    """Load Triton's native library (it comes with CUDA builds of torch and links its own
    LLVM) before Mesa's llvmpipe: loaded after it, importing torch's compiler stack in the
    same process (torchvision models do) crashes with a segmentation fault."""
    import importlib.util
    import sys

    if "triton._C.libtriton" in sys.modules or _mesa_llvm_loaded():
        return  # already in order, or too late: loading Triton now would crash here
    try:
        if importlib.util.find_spec("triton") is not None:
            importlib.import_module("triton._C.libtriton")
    except Exception:  # no usable Triton: nothing to protect
        pass


def _mesa_llvm_loaded() -> bool:
    """Whether Mesa's LLVM is already mapped into this process (Linux; False elsewhere)."""
    try:
        with open("/proc/self/maps") as f:
            return any("libLLVM" in line for line in f)
    except OSError:
        return False


def configure_egl(device: str, threads: int = 0) -> None:
    """Select headless EGL before OpenGL is imported; ``cpu`` forces Mesa, ``cuda:N`` picks
    the N-th EGL device; ``threads`` caps Mesa's rasterizer threads (read when the driver
    loads, so it holds for the whole process)."""
    os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
    preload_triton()
    if threads > 0:
        os.environ.setdefault("LP_NUM_THREADS", str(threads))
    if device == "cpu" and os.path.exists(_MESA_EGL_VENDOR):
        os.environ.setdefault("__EGL_VENDOR_LIBRARY_FILENAMES", _MESA_EGL_VENDOR)
    elif device.startswith("cuda"):
        index = device.partition(":")[2] or "0"
        os.environ.setdefault("EGL_DEVICE_ID", index)


#: GL_RENDERER substrings of software rasterizers (a CPU, whatever EGL device was asked for).
_SOFTWARE_GL = ("llvmpipe", "softpipe", "swrast", "lavapipe", "swr")


def _check_gl_device(device: str) -> str:
    """What the current GL context renders on (``cpu (llvmpipe ...)`` or ``cuda (NVIDIA
    ...)``); an explicit ``cuda`` that landed on a software rasterizer is an error, not a
    silent CPU render with another anti-aliasing path."""
    from OpenGL.GL import GL_RENDERER, glGetString

    from aist_app.common.devices import DeviceError

    name = (glGetString(GL_RENDERER) or b"unknown").decode(errors="replace")
    software = any(k in name.lower() for k in _SOFTWARE_GL)
    if device.startswith("cuda") and software:
        raise DeviceError(f"--device {device}: EGL has no GPU device here (OpenGL renders on "
                          f"{name}, the CPU); use --device cpu or auto")
    return f"{'cpu' if software else 'gpu'} ({name})"


def _check_egl_index(device: str) -> None:
    """``cuda:N`` names an EGL device that exists (pyrender's own error is a bare
    "Invalid device ID")."""
    from aist_app.common.devices import DeviceError

    if not device.startswith("cuda:"):
        return
    from pyrender.platforms import egl

    n = len(egl.query_devices())
    if int(device.partition(":")[2]) >= n:
        raise DeviceError(f"--device {device}: EGL has {n} device(s) here, numbered from 0; "
                          "use --device cpu, auto or cuda:0")


def downsample_rgba(rgba: np.ndarray, k: int) -> np.ndarray:
    """Box-filter an (kH, kW, 4) uint8 image by ``k``: alpha is the mean coverage, colour the
    alpha-weighted mean (premultiplied, so background black does not darken edges). Samples
    are fully covered or empty, or at least 1/4 covered after a 4x MSAA resolve, so a block
    with any covered sample keeps alpha > 0 for k <= 11 (alpha > 0 exactly on the object)."""
    if k == 1:
        return np.ascontiguousarray(rgba, dtype=np.uint8)
    from PIL import Image

    img = Image.fromarray(np.ascontiguousarray(rgba), "RGBA").convert("RGBa").reduce(k)
    return np.asarray(img.convert("RGBA"))


def downsample_depth(depth: np.ndarray, k: int) -> np.ndarray:
    """Nearest surface in each k x k block (0 where nothing was hit)."""
    if k == 1:
        return depth.astype(np.float32)
    h, w = depth.shape[0] // k, depth.shape[1] // k
    d = depth.reshape(h, k, w, k).astype(np.float32)
    d = np.where(d > 0, d, np.inf).min(axis=(1, 3))
    return np.where(np.isfinite(d), d, 0.0).astype(np.float32)


def _gl_renderer_class():
    """pyrender's ``Renderer`` with a chosen MSAA sample count (0: none) and depth read back
    only on request. Built on first use so that importing this module stays cheap."""
    global _GL_RENDERER
    if _GL_RENDERER is not None:
        return _GL_RENDERER
    import pyrender
    from OpenGL import GL as gl

    class FramebufferRenderer(pyrender.Renderer):
        def __init__(self, width: int, height: int) -> None:
            super().__init__(width, height)
            self._program_cache = self.program_cache_class()
            self.samples = 4
            self.read_depth = True
            self._fb_key: tuple | None = None
            self._framebuffers: dict[tuple, tuple[int, ...]] = {}

        def _configure_main_framebuffer(self) -> None:
            # One set of buffers per (size, samples), kept while the renderer lives: views
            # switch tiers often, and re-allocating buffers each time makes memory creep.
            key = (self.viewport_width, self.viewport_height, self.samples)
            if key == self._fb_key:
                return
            if key not in self._framebuffers:
                self._framebuffers[key] = self._new_framebuffers(*key)
            (self._main_fb, self._main_cb, self._main_db, self._main_fb_ms, self._main_cb_ms,
             self._main_db_ms) = self._framebuffers[key]
            self._main_fb_dims = key[:2]
            self._fb_key = key

        @staticmethod
        def _new_framebuffers(w: int, h: int, samples: int) -> tuple[int, ...]:
            def framebuffer(samples: int) -> tuple[int, int, int]:
                cb, db = gl.glGenRenderbuffers(2)
                for rb, fmt in ((cb, gl.GL_RGBA8), (db, gl.GL_DEPTH_COMPONENT24)):
                    gl.glBindRenderbuffer(gl.GL_RENDERBUFFER, rb)
                    if samples:
                        gl.glRenderbufferStorageMultisample(gl.GL_RENDERBUFFER, samples, fmt, w, h)
                    else:
                        gl.glRenderbufferStorage(gl.GL_RENDERBUFFER, fmt, w, h)
                fb = gl.glGenFramebuffers(1)
                gl.glBindFramebuffer(gl.GL_DRAW_FRAMEBUFFER, fb)
                gl.glFramebufferRenderbuffer(gl.GL_DRAW_FRAMEBUFFER, gl.GL_COLOR_ATTACHMENT0,
                                             gl.GL_RENDERBUFFER, cb)
                gl.glFramebufferRenderbuffer(gl.GL_DRAW_FRAMEBUFFER, gl.GL_DEPTH_ATTACHMENT,
                                             gl.GL_RENDERBUFFER, db)
                return fb, cb, db

            single = framebuffer(0)
            # Without MSAA, draw straight into the single-sample buffer.
            return single + (framebuffer(samples) if samples else single)

        def _delete_main_framebuffer(self) -> None:
            for fb, cb, db, fb_ms, cb_ms, db_ms in self._framebuffers.values():
                fbs, rbs = sorted({fb, fb_ms}), sorted({cb, db, cb_ms, db_ms})
                gl.glDeleteFramebuffers(len(fbs), fbs)
                gl.glDeleteRenderbuffers(len(rbs), rbs)
            self._framebuffers = {}
            self._main_fb = self._main_cb = self._main_db = None
            self._main_fb_ms = self._main_cb_ms = self._main_db_ms = None
            self._main_fb_dims = (None, None)
            self._fb_key = None

        def _read_main_framebuffer(self, scene, flags):
            w, h = self._main_fb_dims
            if self._main_fb_ms != self._main_fb:  # resolve the multisample buffer
                gl.glBindFramebuffer(gl.GL_READ_FRAMEBUFFER, self._main_fb_ms)
                gl.glBindFramebuffer(gl.GL_DRAW_FRAMEBUFFER, self._main_fb)
                gl.glBlitFramebuffer(0, 0, w, h, 0, 0, w, h, gl.GL_COLOR_BUFFER_BIT, gl.GL_LINEAR)
                if self.read_depth:
                    gl.glBlitFramebuffer(0, 0, w, h, 0, 0, w, h, gl.GL_DEPTH_BUFFER_BIT,
                                         gl.GL_NEAREST)
            gl.glBindFramebuffer(gl.GL_READ_FRAMEBUFFER, self._main_fb)
            buf = gl.glReadPixels(0, 0, w, h, gl.GL_RGBA, gl.GL_UNSIGNED_BYTE)
            color = np.frombuffer(buf, dtype=np.uint8).reshape(h, w, 4)[::-1]
            depth = None
            if self.read_depth:
                buf = gl.glReadPixels(0, 0, w, h, gl.GL_DEPTH_COMPONENT, gl.GL_FLOAT)
                d = np.frombuffer(buf, dtype=np.float32).reshape(h, w)[::-1]
                cam = scene.main_camera_node.camera
                n, f = cam.znear, cam.zfar
                ndc = 2.0 * d - 1.0
                with np.errstate(divide="ignore"):
                    depth = np.where(d < 1.0, 2.0 * n * f / (f + n - ndc * (f - n)), 0.0)
                depth = depth.astype(np.float32)
            return color, depth

    ShaderProgram = pyrender.shader_program.ShaderProgram

    class LocatedProgram(ShaderProgram):
        """pyrender's program, remembering its uniform locations (pyrender asks GL for each
        location again on every set: a hundred calls a view)."""

        def set_uniform(self, name, value, unsigned=False):
            locations = self.__dict__.setdefault("_aist_locations", {})
            key = (self._program_id, name)
            loc = locations.get(key)
            if loc is None:
                loc = locations[key] = gl.glGetUniformLocation(self._program_id, name)
            if loc == -1:
                return  # not used by this variant of the shader (pyrender ignores it too)
            if isinstance(value, np.ndarray):
                if value.ndim == 1:
                    if unsigned or value.dtype.kind == "u":
                        kind, value = "u", value.astype(np.uint32)
                    elif value.dtype.kind in "ib":
                        kind, value = "i", value.astype(np.int32)
                    else:
                        kind, value = "f", value.astype(np.float32)
                    self._FUNC_MAP[(value.shape[0], kind)](loc, 1, value)
                else:
                    self._FUNC_MAP[value.shape[:2]](loc, 1, gl.GL_TRUE, value)
            elif isinstance(value, bool | int | np.integer):
                (gl.glUniform1ui if unsigned else gl.glUniform1i)(loc, int(value))
            elif isinstance(value, float | np.floating):
                gl.glUniform1f(loc, float(value))

    class ProgramCache(pyrender.shader_program.ShaderProgramCache):
        """pyrender's shader cache, with AIST's ``mesh.frag`` (face normals when a primitive
        has no vertex normals, vertex colours on the base colour) in place of pyrender's,
        and programs that remember their uniform locations."""

        def get_program(self, vertex_shader, fragment_shader, geometry_shader=None,
                        defines=None):
            if fragment_shader == "mesh.frag":
                fragment_shader = str(_SHADERS / "aist_mesh.frag")  # absolute: joins as is
            program = super().get_program(vertex_shader, fragment_shader, geometry_shader,
                                          defines)
            if type(program) is ShaderProgram:
                program.__class__ = LocatedProgram  # same object, cached set_uniform
            return program

    FramebufferRenderer.program_cache_class = ProgramCache
    _GL_RENDERER = FramebufferRenderer
    return FramebufferRenderer


_GL_RENDERER = None


def covered_fraction(points: np.ndarray, camera, alpha: np.ndarray) -> float:
    """Share of the pixels that surface points project into where ``alpha > 0``: how much of
    the surface the rasterizer's samples caught (thin parts seen edge-on are what it misses)."""
    h, w = alpha.shape
    P = (camera.K @ camera.world_to_camera[:3]).astype(np.float32)
    uvw = points @ P[:, :3].T + P[:, 3]
    z = uvw[:, 2]
    ok = z > 1e-6
    u = np.floor(uvw[ok, 0] / z[ok]).astype(np.int64)
    v = np.floor(uvw[ok, 1] / z[ok]).astype(np.int64)
    inside = (u >= 0) & (u < w) & (v >= 0) & (v < h)
    hit = np.zeros(h * w, dtype=bool)
    hit[v[inside] * w + u[inside]] = True
    n = hit.sum()
    return float((hit & (alpha.reshape(-1) > 0)).sum() / n) if n else 1.0


def _opaque(mat) -> bool:
    """Opaque base colour and per-vertex or per-face colours (pyrender blends the rest)."""
    colors = mat.vertex_colors if mat.vertex_colors is not None else mat.face_colors
    return mat.opaque and (colors is None or bool((colors[:, 3] == 255).all()))


class PyrenderRenderer(Renderer):
    """Fast OpenGL rasterizer (pyrender, headless EGL)."""

    name = "pyrender"
    description = "OpenGL rasterizer (pyrender) offscreen through EGL; CPU via Mesa or GPU"
    needs_gpu = False

    def __init__(self, options: RenderOptions) -> None:
        configure_egl(options.device, options.threads)
        import pyrender

        _check_egl_index(options.device)
        self._pyrender = pyrender
        self.options = options
        h, w = options.image_size
        self._size = (h, w)
        k = min(8, max(1, int(options.supersample)))
        # Anti-aliasing tiers, cheapest first: (supersampling factor, MSAA samples). On Mesa
        # (no GPU) 4x MSAA costs about three times what as many plain supersamples cost, but
        # its rotated grid is what catches thin parts seen edge-on; so a view starts at k x k
        # supersampling and is redrawn with MSAA only when its coverage check fails
        # (``_render_view``). A GPU does MSAA for almost nothing: one tier, k x k x 4 samples.
        if options.device.startswith("cuda"):
            self._tiers = [(k, 4)]
        else:
            self._tiers = [(k, 0), (max(2, k - 1), 4)]
        self._renderer = pyrender.OffscreenRenderer(viewport_width=w * k, viewport_height=h * k)
        self.device_used = _check_gl_device(options.device)
        gl_renderer = _gl_renderer_class()(w * k, h * k)
        gl_renderer.read_depth = options.depth
        self._renderer._renderer.delete()  # the context is current right after creation
        self._renderer._renderer = gl_renderer
        self._gl = gl_renderer
        self._scene = pyrender.Scene(bg_color=[0.0, 0.0, 0.0, 0.0], ambient_light=[0.3] * 3)
        self._camera_node = None
        self._light_nodes: list = []
        self._flags = pyrender.RenderFlags.RGBA
        self.tier_counts = [0] * len(self._tiers)

    def _set_camera(self, job: ViewJob, k: int) -> None:
        K = job.camera.K * k
        cam = self._pyrender.IntrinsicsCamera(fx=K[0, 0], fy=K[1, 1], cx=K[0, 2], cy=K[1, 2],
                                              znear=0.05, zfar=100.0)
        pose = job.camera.camera_to_world_gl()
        if self._camera_node is None:
            self._camera_node = self._scene.add(cam, pose=pose)
        else:
            self._camera_node.camera = cam
            self._scene.set_pose(self._camera_node, pose)

    def _set_lights(self, job: ViewJob) -> None:
        """Exactly the view's lights in the scene: the shader loops over every light node,
        so a node left in at zero intensity would still cost as much as a lit one."""
        pyrender = self._pyrender
        lights = job.lights.lights
        while len(self._light_nodes) < len(lights):
            self._light_nodes.append(pyrender.Node(
                light=pyrender.PointLight(color=np.ones(3), intensity=0.0), matrix=np.eye(4)))
        for k, node in enumerate(self._light_nodes):
            in_scene = self._scene.has_node(node)
            if k >= len(lights):
                if in_scene:
                    self._scene.remove_node(node)
                continue
            light = lights[k]
            node.light.color = np.asarray(light.color)
            node.light.intensity = light.intensity * _INTENSITY_SCALE
            pose = np.eye(4)
            pose[:3, 3] = light.position
            if in_scene:
                self._scene.set_pose(node, pose)
            else:
                node.matrix = pose
                self._scene.add_node(node)
        self._scene.ambient_light = np.full(3, job.lights.ambient)

    def _primitives(self, mesh) -> list:
        """The mesh in as few draws as keep its drawing order: each run of consecutive
        opaque untextured parts that share metallic and roughness becomes one primitive
        with their base colours per vertex (each draw costs about a millisecond of Python
        and GL state in pyrender); other parts stay one primitive each."""
        runs: list[list[int]] = []
        last = None
        for k, mat in enumerate(mesh.materials):
            key = ((mat.metallic, mat.roughness) if mat.texture is None and _opaque(mat)
                   else None)
            if key is not None and key == last:
                runs[-1].append(k)
            else:
                runs.append([k])
            last = key
        return [self._primitive(mesh.parts[ks[0]], mesh.materials[ks[0]]) if len(ks) == 1
                else self._merged_primitive([mesh.parts[k] for k in ks],
                                            [mesh.materials[k] for k in ks])
                for ks in runs]

    def _merged_primitive(self, parts: list, mats: list):
        """One indexed primitive of several opaque untextured parts with equal metallic and
        roughness; colour per vertex = base colour x vertex or face colour."""
        pyrender = self._pyrender
        positions, indices, colors = [], [], []
        offset = 0
        for part, mat in zip(parts, mats, strict=True):
            v = np.asarray(part.vertices, dtype=np.float32)
            f = np.asarray(part.faces, dtype=np.uint32)
            base = np.asarray(mat.base_color, dtype=np.float32)
            if mat.face_colors is not None:  # one colour per face: unshare the vertices
                v, f = v[f].reshape(-1, 3), np.arange(f.size, dtype=np.uint32).reshape(-1, 3)
                c = np.repeat(mat.face_colors.astype(np.float32) / 255.0, 3, axis=0) * base
            elif mat.vertex_colors is not None:
                c = mat.vertex_colors.astype(np.float32) / 255.0 * base
            else:
                c = np.broadcast_to(base, (len(v), 4))
            positions.append(v)
            indices.append(f + offset)
            colors.append(c)
            offset += len(v)
        material = pyrender.MetallicRoughnessMaterial(
            baseColorFactor=[1.0, 1.0, 1.0, 1.0], metallicFactor=mats[0].metallic,
            roughnessFactor=mats[0].roughness, alphaMode="OPAQUE", doubleSided=True)
        return pyrender.Primitive(positions=np.concatenate(positions),
                                  color_0=np.concatenate(colors).astype(np.float32),
                                  indices=np.concatenate(indices), material=material,
                                  mode=pyrender.constants.GLTF.TRIANGLES)

    def _primitive(self, part, mat):
        """A flat-shaded, double-sided pyrender primitive from a part and its material:
        indexed, without vertex normals (the shader takes each face's own normal), unless
        colours are per face."""
        pyrender = self._pyrender
        faces = np.asarray(part.faces, dtype=np.uint32)
        positions = np.asarray(part.vertices, dtype=np.float32)
        indices = faces
        texcoord = color = None
        if mat.texture is not None:
            texcoord = mat.uv
        elif mat.vertex_colors is not None:
            color = mat.vertex_colors
        elif mat.face_colors is not None:  # one colour per face: unshare the vertices
            positions, indices = positions[faces].reshape(-1, 3), None
            color = np.repeat(mat.face_colors, 3, axis=0)
        material = pyrender.MetallicRoughnessMaterial(
            baseColorFactor=list(mat.base_color),
            baseColorTexture=mat.texture,
            metallicFactor=mat.metallic,
            roughnessFactor=mat.roughness,
            alphaMode="OPAQUE" if mat.opaque else "BLEND",
            doubleSided=True,
        )
        return pyrender.Primitive(positions=positions, texcoord_0=texcoord, color_0=color,
                                  indices=indices, material=material,
                                  mode=pyrender.constants.GLTF.TRIANGLES)

    def render(self, mesh, views: list[ViewJob]) -> Iterator[RenderedView]:
        pyrender = self._pyrender
        # One node holding every part: pyrender keeps nodes in a set (draw order would vary
        # between processes and coplanar faces would z-fight differently); primitives of one
        # mesh are drawn in list order, so output is deterministic.
        nodes = [self._scene.add(pyrender.Mesh(primitives=self._primitives(mesh)))]
        check = sample_surface(mesh, CHECK_POINTS, np.random.default_rng(0))[0]
        try:
            for job in views:
                self._set_lights(job)
                yield self._render_view(job, check)
        finally:
            for node in nodes:
                self._scene.remove_node(node)

    def _render_view(self, job: ViewJob, check: np.ndarray) -> RenderedView:
        """Render at the cheapest tier whose samples cover the pixels that the object's
        surface points project into (at least ``MIN_COVERAGE`` of them)."""
        h, w = self._size
        before: dict = {}
        for level, (k, msaa) in enumerate(self._tiers):
            self._set_camera(job, k)
            self._renderer.viewport_width, self._renderer.viewport_height = w * k, h * k
            self._gl.samples = msaa
            color, depth = self._renderer.render(self._scene, flags=self._flags)
            rgba = downsample_rgba(color, k)
            info = {"supersample": k, "msaa": msaa, **before}
            if level == len(self._tiers) - 1:
                break
            coverage = covered_fraction(check, job.camera, rgba[..., 3])
            if coverage >= MIN_COVERAGE:
                break
            before = {"coverage_before": round(coverage, 4)}
        self.tier_counts[level] += 1
        return RenderedView(rgba=rgba,
                            depth=downsample_depth(depth, k) if self.options.depth else None,
                            info={"antialias": info})

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.delete()
            self._renderer = None


@hookimpl
def aist_register_stages(registry) -> None:
    registry.add_renderer(PyrenderRenderer)


_EGL_CHECK = """
import os
os.environ.setdefault('PYOPENGL_PLATFORM', 'egl')
import pyrender
r = pyrender.OffscreenRenderer(8, 8)
from OpenGL.GL import glGetString, GL_RENDERER, GL_VERSION
print(glGetString(GL_RENDERER).decode() + ' | OpenGL ' + glGetString(GL_VERSION).decode())
r.delete()
"""


def check_egl(options):
    """An EGL context for pyrender (in a subprocess), on the GPU or Mesa's CPU renderer."""
    from aist_app.api.checks import Check, run_python

    code, out = run_python(_EGL_CHECK, env={"PYOPENGL_PLATFORM": "egl"})
    if code != 0:
        return Check("egl", "missing", f"no EGL context for pyrender: {out}",
                     "apt-get install libegl1 libgl1-mesa-dri (Mesa), or an NVIDIA driver; "
                     "PYOPENGL_PLATFORM=egl")
    soft = any(k in out.lower() for k in ("llvmpipe", "softpipe", "swrast"))
    return Check("egl", "ok", f"EGL renders on {out} ({'CPU, Mesa' if soft else 'GPU'})",
                 info={"renderer": out, "gpu": not soft})


@hookimpl
def aist_register_checks(checks) -> None:
    checks.add("egl", check_egl, stages=("render-pyrender",))
