"""A seeded parametric car generator: a stand-in for ShapeNet cars (which users bring
themselves) so that learning can be measured on a class with many distinct shapes.

Each car is a lofted body (a lower body and a glass greenhouse along a side profile: bumper,
hood, windshield, roof, rear window, boot), four wheels, headlights and a grille at the
front and tail lights at the back, and optional spoiler, roof rack and mirrors. Body styles
(sedan, hatchback, wagon, coupe, SUV, pickup, van) set the ranges of the proportions; every
value is drawn from a generator seeded by (seed, index), so the same command writes the same
cars byte for byte. The tree is ShapeNet-v2-style:
``OUT/02958343/<model_id>/models/model_normalized.obj`` (+ ``.mtl``), with ``cars.json``
listing every car's style and parameters. Generated geometry: no licence restrictions (CC0).
"""

from __future__ import annotations

import hashlib
from collections.abc import Generator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from aist_app.common.exact import norm3
from aist_app.common.io_utils import atomic_write_bytes, atomic_write_json

SYNSET = "02958343"  # ShapeNet's car synset

#: Per style: (low, high) of each proportion (metres; length is the car's length).
STYLES: dict[str, dict[str, tuple[float, float]]] = {
    "sedan": {"length": (4.3, 5.0), "width": (1.75, 1.9), "clearance": (0.13, 0.18),
              "belt": (0.85, 0.95), "roof": (1.38, 1.5), "hood": (0.24, 0.3),
              "windshield": (0.15, 0.2), "roof_len": (0.25, 0.32), "rear_window": (0.12, 0.16),
              "boot": (0.92, 1.02), "cabin_width": (0.8, 0.88), "wheel": (0.31, 0.35)},
    "hatchback": {"length": (3.7, 4.3), "width": (1.68, 1.8), "clearance": (0.13, 0.17),
                  "belt": (0.85, 0.95), "roof": (1.42, 1.55), "hood": (0.2, 0.26),
                  "windshield": (0.16, 0.22), "roof_len": (0.36, 0.44),
                  "rear_window": (0.05, 0.09), "boot": (0.8, 0.95), "cabin_width": (0.8, 0.88),
                  "wheel": (0.29, 0.33)},
    "wagon": {"length": (4.5, 5.0), "width": (1.78, 1.9), "clearance": (0.14, 0.19),
              "belt": (0.88, 0.97), "roof": (1.45, 1.55), "hood": (0.22, 0.28),
              "windshield": (0.15, 0.2), "roof_len": (0.42, 0.5), "rear_window": (0.03, 0.06),
              "boot": (0.85, 1.0), "cabin_width": (0.82, 0.9), "wheel": (0.31, 0.35)},
    "coupe": {"length": (4.2, 4.7), "width": (1.8, 1.95), "clearance": (0.1, 0.14),
              "belt": (0.78, 0.86), "roof": (1.22, 1.35), "hood": (0.3, 0.36),
              "windshield": (0.18, 0.24), "roof_len": (0.14, 0.2), "rear_window": (0.16, 0.22),
              "boot": (0.85, 0.95), "cabin_width": (0.74, 0.82), "wheel": (0.32, 0.36)},
    "suv": {"length": (4.4, 5.1), "width": (1.85, 2.0), "clearance": (0.2, 0.26),
            "belt": (1.05, 1.18), "roof": (1.7, 1.85), "hood": (0.22, 0.27),
            "windshield": (0.1, 0.14), "roof_len": (0.42, 0.5), "rear_window": (0.03, 0.06),
            "boot": (1.05, 1.2), "cabin_width": (0.86, 0.92), "wheel": (0.36, 0.41)},
    "pickup": {"length": (5.0, 5.8), "width": (1.9, 2.05), "clearance": (0.22, 0.28),
               "belt": (1.08, 1.2), "roof": (1.75, 1.9), "hood": (0.22, 0.27),
               "windshield": (0.08, 0.11), "roof_len": (0.14, 0.18),
               "rear_window": (0.01, 0.02), "boot": (1.05, 1.15), "cabin_width": (0.86, 0.92),
               "wheel": (0.37, 0.42)},
    "van": {"length": (4.6, 5.3), "width": (1.85, 2.0), "clearance": (0.16, 0.2),
            "belt": (1.0, 1.1), "roof": (1.85, 2.1), "hood": (0.1, 0.15),
            "windshield": (0.1, 0.14), "roof_len": (0.6, 0.68), "rear_window": (0.01, 0.03),
            "boot": (1.0, 1.1), "cabin_width": (0.88, 0.94), "wheel": (0.32, 0.36)},
}
COLORS = [(0.7, 0.05, 0.05), (0.05, 0.15, 0.55), (0.85, 0.85, 0.85), (0.08, 0.08, 0.08),
          (0.45, 0.47, 0.5), (0.9, 0.7, 0.1), (0.1, 0.4, 0.2), (0.55, 0.35, 0.2),
          (0.95, 0.45, 0.05), (0.3, 0.1, 0.4)]


@dataclass
class CarParams:
    style: str
    length: float
    width: float
    clearance: float
    belt: float
    roof: float
    hood: float  # fractions of the length from here on
    windshield: float
    roof_len: float
    rear_window: float
    boot: float  # height of the boot deck (m)
    cabin_width: float  # fraction of the body's width
    wheel: float  # radius (m)
    wheel_width: float
    wheelbase_front: float  # axle positions, fractions of the length
    wheelbase_rear: float
    bevel: float  # of the body's top edges (m)
    nose: float  # height of the front bumper top above the hood front (m, <= 0)
    spoiler: bool
    roof_rack: bool
    mirrors: bool
    color: tuple[float, float, float]

    @classmethod
    def sample(cls, rng: np.random.Generator, style: str | None = None) -> CarParams:
        style = style or str(rng.choice(sorted(STYLES)))
        r = {k: float(rng.uniform(lo, hi)) for k, (lo, hi) in STYLES[style].items()}
        return cls(style=style, **r, wheel_width=float(rng.uniform(0.18, 0.26)),
                   wheelbase_front=float(rng.uniform(0.15, 0.2)),
                   wheelbase_rear=float(rng.uniform(0.78, 0.84)),
                   bevel=float(rng.uniform(0.03, 0.09)), nose=float(rng.uniform(-0.15, -0.03)),
                   spoiler=bool(rng.random() < 0.25 and style in ("sedan", "coupe",
                                                                   "hatchback")),
                   roof_rack=bool(rng.random() < 0.3 and style in ("suv", "wagon", "van")),
                   mirrors=bool(rng.random() < 0.7),
                   color=tuple(float(c) for c in COLORS[int(rng.integers(len(COLORS)))]))


# -- geometry -------------------------------------------------------------------------------------
Mesh = tuple[np.ndarray, np.ndarray]  # vertices (N, 3), triangles (M, 3); x forward, y up


def _loft(rings: list[np.ndarray]) -> Mesh:
    """Quads between consecutive closed convex rings (each (K, 3), the same K), fan-capped
    ends; every face wound outwards (normal away from its rings' centre)."""
    k = len(rings[0])
    verts = np.concatenate(rings)
    centres = [r.mean(0) for r in rings]
    faces, refs = [], []
    for i in range(len(rings) - 1):
        a, b = i * k, (i + 1) * k
        c = (centres[i] + centres[i + 1]) / 2
        for j in range(k):
            j2 = (j + 1) % k
            faces += [(a + j, b + j, b + j2), (a + j, b + j2, a + j2)]
            refs += [c, c]
    last = (len(rings) - 1) * k
    for j in range(1, k - 1):  # caps: outward is away from the neighbouring ring
        faces += [(0, j + 1, j), (last, last + j, last + j + 1)]
        refs += [(centres[0] + centres[1]) / 2, (centres[-1] + centres[-2]) / 2]
    faces = np.asarray(faces, dtype=np.int64)
    tri = verts[faces]
    normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    inward = np.einsum("ij,ij->i", normal, tri.mean(1) - np.asarray(refs)) < 0
    faces[inward] = faces[inward][:, ::-1]
    return verts, faces


def _box(lo, hi) -> Mesh:
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    x0, y0, z0 = lo
    x1, y1, z1 = hi
    rings = [np.array([[x, y0, z0], [x, y0, z1], [x, y1, z1], [x, y1, z0]]) for x in (x0, x1)]
    return _loft(rings)


def _cylinder(center, radius: float, width: float, segments: int = 20) -> Mesh:
    """A wheel: axis along z."""
    t = np.linspace(0, 2 * np.pi, segments, endpoint=False)
    cx, cy, cz = center
    rings = [np.stack([cx + radius * np.cos(t), cy + radius * np.sin(t), np.full_like(t, z)],
                      axis=1) for z in (cz - width / 2, cz + width / 2)]
    return _loft(rings)


def _profile(p: CarParams, x: np.ndarray) -> np.ndarray:
    """Height of the car's top along its length (x in metres, 0 = front)."""
    L = p.length
    hood_front = p.belt + p.nose
    xs = [0.0, 0.04 * L, p.hood * L, (p.hood + p.windshield) * L,
          (p.hood + p.windshield + p.roof_len) * L,
          (p.hood + p.windshield + p.roof_len + p.rear_window) * L, 0.97 * L, L]
    ys = [hood_front - 0.12, hood_front, p.belt + 0.04, p.roof, p.roof - 0.03,
          max(p.boot, p.belt + 0.02), p.boot, p.boot - 0.12]
    order = np.argsort(xs, kind="stable")
    return np.interp(x, np.asarray(xs)[order], np.asarray(ys)[order])


def car_parts(p: CarParams, stations: int = 48) -> dict[str, Mesh]:
    """The car's parts in metres: ``body``, ``glass``, ``wheels``, ``trim``, ``headlights``,
    ``grille``, ``taillights``."""
    L, w = p.length, p.width / 2
    x = np.linspace(0.0, L, stations)
    top = _profile(p, x)
    belt = np.minimum(np.full_like(x, p.belt), top)
    end = np.clip(np.minimum(x, L - x) / (0.06 * L), 0.0, 1.0)  # round the ends in plan view
    half = w * (0.86 + 0.14 * np.sqrt(end))
    body_top = np.minimum(top, belt)
    low = p.clearance + 0.05 * (1 - end)
    rings = []
    for xi, yb, yt, hw in zip(x, low, body_top, half, strict=True):
        bev = min(p.bevel, 0.4 * (yt - yb), 0.4 * hw)
        rings.append(np.array([[xi, yb, -hw], [xi, yb, hw], [xi, yt - bev, hw],
                               [xi, yt, hw - bev], [xi, yt, -hw + bev], [xi, yt - bev, -hw]]))
    parts = {"body": _loft(rings)}
    cabin = np.nonzero(top > belt + 0.02)[0]
    if len(cabin) >= 2:
        lo_i, hi_i = max(cabin[0] - 1, 0), min(cabin[-1] + 1, stations - 1)
        g = []
        for i in range(lo_i, hi_i + 1):
            hw = half[i] - p.bevel * 0.5
            cw = hw * p.cabin_width
            yt = max(top[i], belt[i] + 0.005)
            g.append(np.array([[x[i], belt[i], -hw], [x[i], belt[i], hw], [x[i], yt, cw],
                               [x[i], yt, -cw]]))
        parts["glass"] = _loft(g)
    wheels = [_cylinder((ax * L, p.wheel, s * (w - p.wheel_width / 2 + 0.02)), p.wheel,
                        p.wheel_width) for ax in (p.wheelbase_front, p.wheelbase_rear)
              for s in (-1, 1)]
    parts["wheels"] = _merge(wheels)
    trim = []
    if p.spoiler:
        x0 = 0.9 * L
        trim.append(_box((x0, p.boot + 0.08, -w * 0.8), (x0 + 0.12, p.boot + 0.12, w * 0.8)))
        for s in (-1, 1):
            trim.append(_box((x0 + 0.03, p.boot - 0.01, s * w * 0.6 - 0.02),
                             (x0 + 0.08, p.boot + 0.09, s * w * 0.6 + 0.02)))
    if p.roof_rack:
        r0 = (p.hood + p.windshield) * L + 0.1
        r1 = (p.hood + p.windshield + p.roof_len) * L - 0.05
        for s in (-1, 1):
            zc = s * w * p.cabin_width * 0.8
            trim.append(_box((r0, p.roof - 0.02, zc - 0.03), (r1, p.roof + 0.06, zc + 0.03)))
    if p.mirrors:
        xm = (p.hood + 0.02) * L
        for s in (-1, 1):
            trim.append(_box((xm, p.belt + 0.03, s * w), (xm + 0.1, p.belt + 0.13,
                                                          s * (w + 0.15))))
    if trim:
        parts["trim"] = _merge(trim)
    parts.update(_lamps(p, half[0], half[-1]))
    return parts


def _lamps(p: CarParams, hw_front: float, hw_rear: float) -> dict[str, Mesh]:
    """Headlights and a dark grille on the front face, wide tail lights on the rear: every
    real car has them, and they are what tells its front from its back where the
    silhouette barely does (docs/learning.md). Boxes set 2 cm proud of the end faces."""
    L = p.length
    top_f, top_r = (float(v) for v in _profile(p, np.array([0.0, L])))

    def pair(x0, x1, y0, y1, z_in, z_out):
        return _merge([_box((x0, y0, z_in), (x1, y1, z_out)),
                       _box((x0, y0, -z_out), (x1, y1, -z_in))])

    return {"headlights": pair(-0.02, 0.06, top_f - 0.17, top_f - 0.02, 0.42 * hw_front,
                               0.88 * hw_front),
            "grille": _box((-0.015, top_f - 0.2, -0.36 * hw_front),
                           (0.06, top_f - 0.05, 0.36 * hw_front)),
            "taillights": pair(L - 0.06, L + 0.02, top_r - 0.2, top_r - 0.03,
                               0.3 * hw_rear, 0.92 * hw_rear)}


def _merge(meshes: list[Mesh]) -> Mesh:
    verts, faces, n = [], [], 0
    for v, f in meshes:
        verts.append(v)
        faces.append(f + n)
        n += len(v)
    return np.concatenate(verts), np.concatenate(faces)


# -- files ----------------------------------------------------------------------------------------
def _obj_mtl(parts: dict[str, Mesh], p: CarParams, name: str) -> tuple[bytes, bytes]:
    """OBJ in ShapeNet's frame (y up, the car's front towards -z), normalized like ShapeNet
    v2 (centred, bounding-box diagonal 1), and its MTL."""
    allv = np.concatenate([v for v, _ in parts.values()])
    lo, hi = allv.min(0), allv.max(0)
    centre, scale = (lo + hi) / 2, 1.0 / norm3(hi - lo)
    colors = {"body": p.color, "glass": (0.05, 0.07, 0.09), "wheels": (0.04, 0.04, 0.04),
              "trim": (0.12, 0.12, 0.12), "headlights": (1.0, 0.95, 0.8),
              "grille": (0.03, 0.03, 0.03), "taillights": (0.8, 0.03, 0.03)}
    obj = [f"mtllib {name}.mtl"]
    mtl = []
    offset = 1
    for part, (v, f) in parts.items():
        q = (v - centre) * scale
        q = np.stack([q[:, 2], q[:, 1], q[:, 0]], axis=1)  # x forward -> -z forward
        q[:, 0] = -q[:, 0]  # keep the handedness (a proper rotation about y)
        obj.append(f"o {part}")
        obj.append(f"usemtl {part}")
        obj += [f"v {a:.6f} {b:.6f} {c:.6f}" for a, b, c in q]
        obj += [f"f {a + offset} {b + offset} {c + offset}" for a, b, c in f]
        offset += len(v)
        r, g, b = colors[part]
        shiny = {"body": 200, "glass": 400}.get(part, 20)
        mtl += [f"newmtl {part}", f"Kd {r:.4f} {g:.4f} {b:.4f}", "Ka 0 0 0",
                "Ks 0.3 0.3 0.3" if part in ("body", "glass") else "Ks 0.05 0.05 0.05",
                f"Ns {shiny}", "d 1", "illum 2", ""]
    return ("\n".join(obj) + "\n").encode(), ("\n".join(mtl) + "\n").encode()


def model_id(seed: int, index: int) -> str:
    return hashlib.sha256(f"aist-car:{seed}:{index}".encode()).hexdigest()[:32]


def make_cars(out: str | Path, count: int = 40, *, seed: int = 0,
              styles: tuple[str, ...] | None = None) -> Generator[str, None, Path]:
    """Write ``count`` cars under ``out`` (ShapeNet-v2 layout); yields each model id and
    returns the folder of the synset. Styles cycle so every style is represented."""
    if count < 1:
        raise ValueError(f"--count {count}: must be at least 1")
    styles = tuple(styles or sorted(STYLES))
    unknown = [s for s in styles if s not in STYLES]
    if unknown:
        raise ValueError(f"--styles {','.join(unknown)}: use some of {sorted(STYLES)}")
    root = Path(out) / SYNSET
    # The generator's name as first published: it names the shapes, not where the code is.
    manifest = {"generator": "aist_app.cars", "seed": seed, "count": count,
                "licence": "CC0-1.0 (generated geometry)", "cars": {}}
    for i in range(count):
        rng = np.random.default_rng([seed, i])
        params = CarParams.sample(rng, styles[i % len(styles)])
        mid = model_id(seed, i)
        obj, mtl = _obj_mtl(car_parts(params), params, "model_normalized")
        folder = root / mid / "models"
        atomic_write_bytes(folder / "model_normalized.mtl", mtl)
        atomic_write_bytes(folder / "model_normalized.obj", obj)
        manifest["cars"][mid] = asdict(params)
        yield mid
    atomic_write_json(Path(out) / "cars.json", manifest)
    return root

