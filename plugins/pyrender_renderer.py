"""The default renderer: pyrender (OpenGL) offscreen through EGL, CPU (Mesa) or GPU."""

from __future__ import annotations

import os
from collections.abc import Iterator

import numpy as np

from aist_app import hookimpl
from aist_app.render.base import RenderedView, RenderOptions, ViewJob

#: pyrender light units per AIST light unit (point light at ~3 units from the object).
_INTENSITY_SCALE = 9.0
_MESA_EGL_VENDOR = "/usr/share/glvnd/egl_vendor.d/50_mesa.json"


def preload_triton() -> None:
    """Load Triton's native library (it comes with CUDA builds of torch and links its own
    LLVM) before Mesa's llvmpipe: loaded after it, importing torch's compiler stack in the
    same process (torchvision models do) crashes with a segmentation fault."""
    import importlib.util

    try:
        if importlib.util.find_spec("triton") is not None:
            importlib.import_module("triton._C.libtriton")
    except Exception:  # no usable Triton: nothing to protect
        pass


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


def downsample_rgba(rgba: np.ndarray, k: int) -> np.ndarray:
    """Box-filter an (kH, kW, 4) uint8 image by ``k``: alpha is the mean coverage, colour the
    alpha-weighted mean (so background black does not darken edges)."""
    if k == 1:
        return np.ascontiguousarray(rgba, dtype=np.uint8)
    h, w = rgba.shape[0] // k, rgba.shape[1] // k
    x = rgba.reshape(h, k, w, k, 4).astype(np.float32)
    a = x[..., 3:4]
    asum = a.sum(axis=(1, 3))
    rgb = (x[..., :3] * a).sum(axis=(1, 3)) / np.maximum(asum, 1e-6)
    alpha = asum / (k * k)
    out = np.concatenate([rgb, alpha], axis=-1)
    # Any covered sample keeps the pixel's alpha above zero (alpha > 0 exactly on the object).
    out = np.where(asum > 0, np.maximum(np.rint(out), [0, 0, 0, 1]), 0)
    return out.astype(np.uint8)


def downsample_depth(depth: np.ndarray, k: int) -> np.ndarray:
    """Nearest surface in each k x k block (0 where nothing was hit)."""
    if k == 1:
        return depth.astype(np.float32)
    h, w = depth.shape[0] // k, depth.shape[1] // k
    d = depth.reshape(h, k, w, k).astype(np.float32)
    d = np.where(d > 0, d, np.inf).min(axis=(1, 3))
    return np.where(np.isfinite(d), d, 0.0).astype(np.float32)


class PyrenderRenderer:
    """Fast OpenGL rasterizer (pyrender, headless EGL)."""

    name = "pyrender"
    description = "OpenGL rasterizer (pyrender) offscreen through EGL; CPU via Mesa or GPU"
    needs_gpu = False

    def __init__(self, options: RenderOptions) -> None:
        configure_egl(options.device, options.threads)
        import pyrender

        self._pyrender = pyrender
        self.options = options
        h, w = options.image_size
        # Render at `ss` times the size (with the GPU's 4x MSAA on top) and box-filter down:
        # 16 coverage samples a pixel, so thin parts keep a non-zero alpha.
        self._ss = max(1, int(options.supersample))
        self._renderer = pyrender.OffscreenRenderer(viewport_width=w * self._ss,
                                                    viewport_height=h * self._ss)
        self._scene = pyrender.Scene(bg_color=[0.0, 0.0, 0.0, 0.0], ambient_light=[0.3] * 3)
        self._camera_node = None
        self._light_nodes: list = []
        self._flags = pyrender.RenderFlags.RGBA

    def _set_camera(self, job: ViewJob) -> None:
        K = job.camera.K * self._ss
        cam = self._pyrender.IntrinsicsCamera(fx=K[0, 0], fy=K[1, 1], cx=K[0, 2], cy=K[1, 2],
                                              znear=0.05, zfar=100.0)
        pose = job.camera.camera_to_world_gl()
        if self._camera_node is None:
            self._camera_node = self._scene.add(cam, pose=pose)
        else:
            self._camera_node.camera = cam
            self._scene.set_pose(self._camera_node, pose)

    def _set_lights(self, job: ViewJob) -> None:
        pyrender = self._pyrender
        lights = job.lights.lights
        while len(self._light_nodes) < len(lights):
            node = self._scene.add(pyrender.PointLight(color=np.ones(3), intensity=0.0))
            self._light_nodes.append(node)
        for k, node in enumerate(self._light_nodes):
            if k < len(lights):
                light = lights[k]
                node.light.color = np.asarray(light.color)
                node.light.intensity = light.intensity * _INTENSITY_SCALE
                pose = np.eye(4)
                pose[:3, 3] = light.position
                self._scene.set_pose(node, pose)
            else:
                node.light.intensity = 0.0
        self._scene.ambient_light = np.full(3, job.lights.ambient)

    def _primitive(self, part, mat):
        """A flat-shaded, double-sided pyrender primitive from a part and its material."""
        pyrender = self._pyrender
        faces = np.asarray(part.faces)
        positions = np.asarray(part.vertices, dtype=np.float32)[faces].reshape(-1, 3)
        normals = np.repeat(np.asarray(part.face_normals, dtype=np.float32), 3, axis=0)
        texcoord = color = None
        if mat.texture is not None:
            texcoord = mat.uv[faces].reshape(-1, 2)
        elif mat.vertex_colors is not None:
            color = mat.vertex_colors[faces].reshape(-1, 4)
        elif mat.face_colors is not None:
            color = np.repeat(mat.face_colors, 3, axis=0)
        material = pyrender.MetallicRoughnessMaterial(
            baseColorFactor=list(mat.base_color),
            baseColorTexture=mat.texture,
            metallicFactor=mat.metallic,
            roughnessFactor=mat.roughness,
            alphaMode="OPAQUE" if mat.opaque else "BLEND",
            doubleSided=True,
        )
        return pyrender.Primitive(positions=positions, normals=normals, texcoord_0=texcoord,
                                  color_0=color, material=material,
                                  mode=pyrender.constants.GLTF.TRIANGLES)

    def render(self, mesh, views: list[ViewJob]) -> Iterator[RenderedView]:
        pyrender = self._pyrender
        # One node holding every part: pyrender keeps nodes in a set (draw order would vary
        # between processes and coplanar faces would z-fight differently); primitives of one
        # mesh are drawn in list order, so output is deterministic.
        prims = [self._primitive(p, m) for p, m in zip(mesh.parts, mesh.materials, strict=True)]
        nodes = [self._scene.add(pyrender.Mesh(primitives=prims))]
        try:
            for job in views:
                self._set_camera(job)
                self._set_lights(job)
                color, depth = self._renderer.render(self._scene, flags=self._flags)
                yield RenderedView(
                    rgba=downsample_rgba(color, self._ss),
                    depth=downsample_depth(depth, self._ss) if self.options.depth else None,
                )
        finally:
            for node in nodes:
                self._scene.remove_node(node)

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.delete()
            self._renderer = None


@hookimpl
def aist_register_stages(registry) -> None:
    registry.add_renderer(PyrenderRenderer)
