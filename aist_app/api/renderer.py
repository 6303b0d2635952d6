"""The renderer interface every renderer plugin implements.

A renderer only turns a normalized mesh, a camera and lights into pixels. Everything else
(discovery, loading, normalization, viewpoints, lights, ground-truth points, writing,
resuming) is the pipeline's job (:mod:`aist_app.render.pipeline`), so every renderer gets the
same scene, the same camera convention and the same outputs.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from aist_app.api.stage import Stage
from aist_app.scene.cameras import Camera
from aist_app.scene.lights import LightSetup
from aist_app.scene.looks import Look
from aist_app.scene.meshes import LoadedMesh


@dataclass(frozen=True)
class RenderOptions:
    """What a renderer needs to know once, when it is opened."""

    image_size: tuple[int, int] = (128, 128)
    depth: bool = False
    samples: int = 16  # path-tracing samples per pixel (ignored by rasterizers)
    supersample: int = 3  # rasterizers: render k times larger and box-filter down
    device: str = "auto"  # auto | cpu | cuda[:N]
    up_axis: str = "y"
    threads: int = 0  # CPU threads the renderer may use (0: all cores)


@dataclass(frozen=True)
class ViewJob:
    camera: Camera
    lights: LightSetup
    look: Look | None = None  # aist_app.scene.looks: None renders the mesh's own materials


@dataclass
class RenderedView:
    rgba: np.ndarray  # (H, W, 4) uint8; alpha > 0 exactly where the object is
    depth: np.ndarray | None = None  # (H, W) float32 distance along camera z, 0 = background
    info: dict = field(default_factory=dict)  # renderer details saved with the view's camera


class Renderer(Stage):
    """The renderer contract: a stage class opened with :class:`RenderOptions` (heavy
    imports in ``__init__``) that renders the views of one object; the render pipeline does
    the rest. Configured by :class:`~aist_app.render.pipeline.RenderConfig`."""

    #: Whether it renders the scene looks of ``aist_app.scene.looks`` (``--look``).
    supports_looks: ClassVar[bool] = False
    #: The device it renders on, once open (recorded with the dataset); None: the
    #: config's ``--device``.
    device_used: str | None = None
    required = ("__init__", "render")

    def __init__(self, options: RenderOptions) -> None:
        raise NotImplementedError

    def render(self, mesh: LoadedMesh, views: list[ViewJob]) -> Iterator[RenderedView]:
        """Render every view of one object, in order."""
        raise NotImplementedError

    def close(self) -> None:
        """Free the renderer's resources (GL context, Blender data)."""
