"""Mesh collections: discovery (ShapeNet v1/v2 layouts, plain folders), loading, checks,
normalization and ground-truth surface sampling, shared by every renderer.

Normalization (identical for every renderer), the reference's convention: ShapeNet **v1**
models (``<synset>/<model>/model.obj``) keep their own coordinates, which are already centred
with a bounding-box diagonal of 1 and are the frame of the reference's ground truth
(``dpc/densify`` samples it from these files). Every other file is centred on its axis-aligned
bounding box and scaled to a bounding-box diagonal of 1, the same convention. A v1 file that
is not normalized so (diagonal off by more than 2%, or off-centre) is normalized like the
others, with a warning. Which rule was used is recorded per object
(:attr:`LoadedMesh.normalization_mode`). The object frame is the file's own frame (Y-up for
OBJ, glTF and ShapeNet).
"""

from __future__ import annotations

import re
import warnings as warnings_module
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from aist_app.common.exact import affine, norm3

MESH_EXTENSIONS = (".obj", ".glb", ".gltf", ".ply", ".stl", ".off")
_ID_SAFE = re.compile(r"[^A-Za-z0-9._-]+")
_MTLLIB = re.compile(rb"^mtllib[ \t]+(.+?)\r?$", re.M)


class MeshError(Exception):
    """A mesh cannot be used; ``category`` is a short machine-readable reason."""

    def __init__(self, path: Path | str, message: str, category: str = "invalid-mesh") -> None:
        self.path = Path(path)
        self.message = message
        self.category = category
        super().__init__(f"{path}: {message}")


@dataclass(frozen=True)
class MeshItem:
    """One object of a collection."""

    object_id: str
    path: Path
    layout: str  # "shapenet-v1", "shapenet-v2" or "file"
    synset: str | None = None

    def as_dict(self) -> dict:
        d = {"object_id": self.object_id, "path": str(self.path), "layout": self.layout}
        if self.synset:
            d["synset"] = self.synset
        return d


def discover(root: str | Path) -> list[MeshItem]:
    """Every mesh under ``root`` (a folder or a single file), sorted by object id.

    ShapeNet folders (``<synset>/<model>/model.obj`` or ``.../models/model_normalized.obj``)
    give the model id as object id; other files give their path relative to ``root`` (without
    extension, separators as ``_``). Ids stay unique, never merged (:func:`_unique`).
    Paths are absolute (farm workers run in other folders, on other machines).
    """
    root = Path(root).expanduser().absolute()
    if root.is_file():
        if root.suffix.lower() not in MESH_EXTENSIONS:
            raise MeshError(root, f"not a mesh file (expected one of {MESH_EXTENSIONS})",
                            "unsupported-format")
        return [MeshItem(_safe_id(root.stem), root, "file")]
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such file or folder")
    items: list[MeshItem] = []
    for d, dirs, files in _walk(root):
        v2 = d / "models" / "model_normalized.obj"
        if "model.obj" in files or v2.is_file():
            layout = "shapenet-v1" if "model.obj" in files else "shapenet-v2"
            path = d / "model.obj" if layout == "shapenet-v1" else v2
            synset = d.parent.name if re.fullmatch(r"\d{8}", d.parent.name) else None
            items.append(MeshItem(_safe_id(d.name), path, layout, synset))
            dirs.clear()
            continue
        for f in sorted(files):
            p = d / f
            if p.suffix.lower() in MESH_EXTENSIONS:
                rel = p.relative_to(root).with_suffix("")
                items.append(MeshItem(_safe_id(rel.name), p, "file"))
    return _unique(items, root)


def _walk(root: Path):
    """``os.walk`` in sorted order, following symlinked folders (collections are often
    assembled from links) but never into a loop."""
    import os

    ancestors: dict[str, frozenset[str]] = {str(root): frozenset({os.path.realpath(root)})}
    for d, dirs, files in os.walk(root, followlinks=True):
        above = ancestors.pop(d, frozenset())
        keep = []
        for x in sorted(x for x in dirs if not x.startswith(".")):
            real = os.path.realpath(os.path.join(d, x))
            if real not in above:  # a link back up the tree would loop forever
                keep.append(x)
                ancestors[os.path.join(d, x)] = above | {real}
        dirs[:] = keep
        yield Path(d), dirs, files


#: The longest object id (a folder name, with room for the writer's temp prefixes and
#: suffixes within the file system's 255 bytes); longer names are shortened with a digest.
MAX_ID = 100


def _safe_id(name: str) -> str:
    s = _ID_SAFE.sub("_", name).strip("._") or "object"
    if len(s) > MAX_ID:  # the exact name stays recorded with the object's source file
        import hashlib

        digest = hashlib.sha256(name.encode("utf-8", "surrogateescape")).hexdigest()[:8]
        s = f"{s[:MAX_ID - 9]}-{digest}"
    return s


def _unique(items: list[MeshItem], root: Path) -> list[MeshItem]:
    """Ids made unique, never merged: a clashing id becomes the sanitized path of its file
    (or ShapeNet model folder), then that path with the file's extension, then that with a
    digest of the exact path (``voiture ü.glb`` and ``voiture ö.glb`` both sanitize to
    ``voiture_``). The ids given are recorded with each object's source file."""
    import hashlib

    def candidate(it: MeshItem, level: int) -> str:
        if level == 0:
            return it.object_id
        where = it.path.with_suffix("") if it.layout == "file" else (
            it.path.parent if it.layout == "shapenet-v1" else it.path.parent.parent)
        rel = where.relative_to(root) if where != root else Path(where.name)
        name = _safe_id("_".join(rel.parts))
        if level >= 2 and it.layout == "file":
            name = f"{name}{it.path.suffix.lower()}"
        if level >= 3:
            exact = str(it.path.relative_to(root) if it.path != root else it.path.name)
            name = f"{name}-{hashlib.sha1(exact.encode()).hexdigest()[:8]}"
        return name

    level = [0] * len(items)
    while True:
        ids = [candidate(it, k) for it, k in zip(items, level, strict=True)]
        counts: dict[str, list[int]] = {}
        for n, i in enumerate(ids):
            counts.setdefault(i, []).append(n)
        clashes = [ns for ns in counts.values() if len(ns) > 1]
        if not clashes:
            break
        for ns in clashes:
            if all(level[n] >= 3 for n in ns):
                a, b = (items[n].path for n in ns[:2])
                raise MeshError(a, f"and {b} get the same object id {ids[ns[0]]!r}; rename "
                                "one of them", "duplicate-id")
            for n in ns:
                level[n] = min(3, level[n] + 1)
    out = [MeshItem(i, it.path, it.layout, it.synset)
           for i, it in zip(ids, items, strict=True)]
    return sorted(out, key=lambda i: i.object_id)


@dataclass
class LoadedMesh:
    """An object ready for rendering: its parts in the normalized object frame."""

    item: MeshItem
    parts: list  # trimesh.Trimesh, each with its visuals, already normalized
    normalization: np.ndarray  # 4x4 file frame -> normalized frame
    normalization_mode: str = "bbox-diagonal"  # or "shapenet-v1-native"
    materials: list = field(default_factory=list)  # PartMaterial per part
    warnings: list[str] = field(default_factory=list)


def check_textures(path: Path) -> None:
    """OBJ: every ``mtllib`` and every texture map it names must exist (case-insensitive
    match accepted, as ShapeNet archives often differ in case)."""
    if path.suffix.lower() != ".obj":
        return
    mtls = [name for line in _MTLLIB.findall(path.read_bytes())
            for name in line.decode("utf-8", "replace").split()]
    for name in mtls:
        mtl = _resolve(path.parent, name)
        if mtl is None:
            raise MeshError(path, f"material library {name!r} is missing", "missing-material")
        for line in mtl.read_text(encoding="utf-8", errors="replace").splitlines():
            parts = line.strip().split()
            if parts and parts[0].lower().startswith("map_") and len(parts) > 1:
                tex = parts[-1]
                if _resolve(mtl.parent, tex) is None:
                    raise MeshError(path, f"texture {tex!r} named in {mtl.name} is missing",
                                    "missing-texture")


def _resolve(folder: Path, name: str) -> Path | None:
    p = folder / name.replace("\\", "/")
    if p.is_file():
        return p
    if p.parent.is_dir():
        low = p.name.lower()
        for q in p.parent.iterdir():
            if q.name.lower() == low and q.is_file():
                return q
    return None


def _instances(scene) -> list:
    """Every mesh instance of a trimesh scene moved to its place, in graph order (what
    ``Scene.dump`` gives, without copying a geometry used once: dump copies each one,
    textures included, which costs more than parsing some files)."""
    from collections import Counter

    import trimesh

    nodes = scene.graph.nodes_geometry
    names = [scene.graph[n][1] for n in nodes]
    uses = Counter(names)
    out = []
    for node, name in zip(nodes, names, strict=True):
        geom = scene.geometry[name]
        if not isinstance(geom, trimesh.Trimesh):
            continue
        if uses[name] > 1:
            geom = geom.copy()
        transform(geom, scene.graph[node][0])
        out.append(geom)
    return out


def load(item: MeshItem, *, allow_missing_textures: bool = False) -> LoadedMesh:
    """Load, check and normalize one mesh; raises :class:`MeshError` with the reason."""
    import trimesh

    path = item.path
    if not path.is_file():
        raise MeshError(path, "file is missing", "missing-file")
    if path.stat().st_size == 0:
        raise MeshError(path, "file is empty", "empty-mesh")
    warnings: list[str] = []
    try:
        check_textures(path)
    except MeshError as e:
        if not allow_missing_textures or e.category != "missing-texture":
            raise
        warnings.append(e.message)
    try:
        with warnings_module.catch_warnings():
            warnings_module.simplefilter("ignore")
            loaded = trimesh.load(path, force="scene", process=False, maintain_order=True)
            parts_raw = _instances(loaded)
    except Exception as e:
        raise MeshError(path, f"cannot be read as a mesh ({type(e).__name__}: {e})",
                        "unreadable-mesh") from None
    parts = []
    for geom in parts_raw:
        if isinstance(geom, trimesh.Trimesh) and len(geom.faces) and len(geom.vertices):
            # OBJ groups share one vertex list: keep only the vertices each part uses, or
            # every part would carry (and every renderer transform) all of them.
            if len(np.unique(geom.faces)) < len(geom.vertices):
                geom.remove_unreferenced_vertices()
            parts.append(geom)
    if not parts:
        raise MeshError(path, "has no faces (empty or not a surface mesh)", "empty-mesh")
    verts = np.concatenate([p.vertices for p in parts])
    if not np.all(np.isfinite(verts)):
        raise MeshError(path, "has non-finite vertex coordinates", "invalid-mesh")
    lo, hi = verts.min(axis=0), verts.max(axis=0)
    diagonal = norm3(hi - lo)
    if float((hi - lo).max()) <= 0 or sum(float(p.area) for p in parts) <= 0:
        raise MeshError(path, "is degenerate (zero extent or zero surface area)", "invalid-mesh")
    mode, norm = normalization(item.layout, lo, hi)
    if item.layout == "shapenet-v1" and mode != "shapenet-v1-native":
        warnings.append(f"ShapeNet v1 model is not normalized (bounding-box diagonal "
                        f"{diagonal:.4f}, centre {((lo + hi) / 2).round(4).tolist()}): centred "
                        "and scaled to diagonal 1")
    if mode != "shapenet-v1-native":
        for p in parts:
            transform(p, norm)
    from aist_app.scene.materials import describe

    return LoadedMesh(item, parts, norm, mode, [describe(p) for p in parts], warnings)


def normalization(layout: str, lo: np.ndarray, hi: np.ndarray) -> tuple[str, np.ndarray]:
    """(rule, 4x4 file frame -> object frame) for a bounding box ``lo``..``hi``."""
    diagonal = norm3(hi - lo)
    centre = (lo + hi) / 2.0
    if layout == "shapenet-v1" and abs(diagonal - 1.0) <= 0.02 and \
            float(np.abs(centre).max()) <= 0.01:
        return "shapenet-v1-native", np.eye(4)
    norm = np.eye(4)
    norm[:3, :3] *= 1.0 / diagonal
    norm[:3, 3] = -centre / diagonal
    return "bbox-diagonal", norm


def transform(geom, matrix: np.ndarray) -> None:
    """``geom.apply_transform(matrix)`` with vertices computed without BLAS (the same bits on
    every processor: :mod:`aist_app.common.exact`)."""
    matrix = np.asarray(matrix, dtype=np.float64)
    if np.array_equal(matrix, np.eye(4)):
        return
    vertices = affine(matrix, geom.vertices)
    geom.apply_transform(matrix)  # caches, normals and face winding of a mirroring matrix
    geom.vertices = vertices


def sample_surface(mesh: LoadedMesh, n: int, seed) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points uniformly distributed over the whole surface (area-weighted), with the
    unit normals of the faces they lie on, as float32."""
    rng = np.random.default_rng(seed)
    tris = np.concatenate([p.vertices[p.faces] for p in mesh.parts]).astype(np.float64)
    cross = np.cross(tris[:, 1] - tris[:, 0], tris[:, 2] - tris[:, 0])
    area2 = np.sqrt(cross[:, 0] * cross[:, 0] + cross[:, 1] * cross[:, 1]
                    + cross[:, 2] * cross[:, 2])
    cdf = np.cumsum(area2)
    face = np.searchsorted(cdf, rng.random(n) * cdf[-1], side="right")
    face = np.minimum(face, len(tris) - 1)
    r1, r2 = rng.random((2, n))
    s = np.sqrt(r1)
    a, b, c = 1.0 - s, s * (1.0 - r2), s * r2
    t = tris[face]
    pts = a[:, None] * t[:, 0] + b[:, None] * t[:, 1] + c[:, None] * t[:, 2]
    with np.errstate(invalid="ignore", divide="ignore"):
        nrm = cross[face] / area2[face, None]
    return pts.astype(np.float32), np.nan_to_num(nrm).astype(np.float32)
