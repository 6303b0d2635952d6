"""One neutral description of a mesh part's look, read from trimesh visuals once, so every
renderer builds the same material (base colour, texture, vertex colours, metal/roughness,
opacity). Parts are always rendered double-sided: ShapeNet winding is not consistent.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class PartMaterial:
    base_color: tuple[float, float, float, float] = (0.6, 0.6, 0.6, 1.0)  # linear-ish RGBA
    texture: object | None = None  # PIL.Image (sRGB) or None
    uv: np.ndarray | None = None  # (V, 2) per vertex, when texture is set
    vertex_colors: np.ndarray | None = None  # (V, 4) uint8
    face_colors: np.ndarray | None = None  # (F, 4) uint8
    metallic: float = 0.0
    roughness: float = 0.7
    name: str = ""

    @property
    def opaque(self) -> bool:
        return self.base_color[3] >= 0.999


def _rgba(value, default=(0.6, 0.6, 0.6, 1.0)) -> tuple[float, float, float, float]:
    if value is None:
        return default
    c = np.asarray(value, dtype=np.float64).ravel()
    if c.size == 3:
        c = np.append(c, 1.0 if c.max() <= 1.0 else 255.0)
    if c.size != 4:
        return default
    if c.max() > 1.0:
        c = c / 255.0
    return tuple(float(x) for x in np.clip(c, 0.0, 1.0))


def describe(part) -> PartMaterial:
    """Read a trimesh part's visuals into a :class:`PartMaterial`."""
    import trimesh

    visual = part.visual
    kind = getattr(visual, "kind", None)
    if kind == "vertex":
        return PartMaterial(base_color=(1, 1, 1, 1),
                            vertex_colors=np.asarray(visual.vertex_colors, dtype=np.uint8))
    if kind == "face":
        return PartMaterial(base_color=(1, 1, 1, 1),
                            face_colors=np.asarray(visual.face_colors, dtype=np.uint8))
    mat = getattr(visual, "material", None)
    if mat is None:
        return PartMaterial()
    uv = getattr(visual, "uv", None)
    has_uv = uv is not None and len(uv) == len(part.vertices)
    out = PartMaterial(name=getattr(mat, "name", "") or "")
    if isinstance(mat, trimesh.visual.material.PBRMaterial):
        out.base_color = _rgba(mat.baseColorFactor, (1, 1, 1, 1))
        out.metallic = float(mat.metallicFactor if mat.metallicFactor is not None else 0.0)
        out.roughness = float(mat.roughnessFactor if mat.roughnessFactor is not None else 0.7)
        image = mat.baseColorTexture
    else:  # SimpleMaterial (OBJ/MTL)
        out.base_color = _rgba(getattr(mat, "diffuse", None))
        ns = getattr(mat, "glossiness", None)
        if ns is None:
            ns = mat.kwargs.get("Ns", 10.0) if hasattr(mat, "kwargs") else 10.0
        try:
            ns = float(np.ravel(ns)[0])
        except (TypeError, ValueError, IndexError):
            ns = 10.0
        out.roughness = float(np.clip((2.0 / (ns + 2.0)) ** 0.25, 0.2, 1.0))
        image = getattr(mat, "image", None)
        if image is not None:  # MTL: Kd multiplies the texture; ShapeNet Kd is often grey
            out.base_color = (1.0, 1.0, 1.0, out.base_color[3])
    if image is not None and has_uv:
        out.texture = image
        out.uv = np.asarray(uv, dtype=np.float32)
    return out
