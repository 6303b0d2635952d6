"""Rendering throughput and memory, each renderer against a bare baseline loop in the same run.

    .venv/bin/python bench/render.py [--meshes ../shared/data/meshes] [--views 20]
        [--blender-views 5] [--memory-objects 100] [--rounds 3] [--skip-blender]

Prints views/s end to end (load, normalize, sample 100k points, render, write PNG + JSON) and
for a bare loop (load, render, save PNG, nothing else; for pyrender also one at 2x2
supersampling, the quality the consistency promise needs), their ratio, the share of time per
phase, and resident memory while rendering many objects in one process. Speeds are medians
of alternating rounds.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from aist_app.api.progress import drain  # noqa: E402
from aist_app.render.pipeline import RenderConfig, plan_views, render_collection  # noqa: E402
from aist_app.scene.meshes import discover  # noqa: E402
from aist_plugins.pyrender_renderer import preload_triton  # noqa: E402

preload_triton()  # before any Mesa context (the bare loop opens one first)


def rss_mb() -> float:
    with open(f"/proc/{os.getpid()}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def run_pipeline(meshes, out, cfg, cls):
    return drain(render_collection(meshes, out, cfg, cls))


def bare_pyrender(items, views: int, out: Path, supersample: int = 1) -> tuple[float, int]:
    """Load with trimesh, render with pyrender's own conversion, save PNG. Nothing else.
    ``supersample`` k > 1 draws at k x k the size (with pyrender's 4x MSAA, which it cannot
    turn off) and box-filters down: the quality a user of bare pyrender needs for thin parts
    to show (k = 2: 16 samples a pixel, the silhouettes AIST's consistency promise needs)."""
    import pyrender
    import trimesh
    from PIL import Image

    cfg = RenderConfig(views=views)
    k = supersample
    t0 = time.perf_counter()
    r = pyrender.OffscreenRenderer(128 * k, 128 * k)
    n = 0
    for it in items:
        jobs, _ = plan_views(cfg, it.object_id)
        scene = pyrender.Scene.from_trimesh_scene(trimesh.load(it.path, force="scene"),
                                                  bg_color=[0, 0, 0, 0])
        K = jobs[0].camera.K * k
        cam = scene.add(pyrender.IntrinsicsCamera(K[0, 0], K[1, 1], K[0, 2], K[1, 2]))
        scene.add(pyrender.PointLight(intensity=10.0), pose=np.eye(4))
        for j, job in enumerate(jobs):
            scene.set_pose(cam, job.camera.camera_to_world_gl())
            color, _ = r.render(scene, flags=pyrender.RenderFlags.RGBA)
            img = Image.fromarray(color)
            if k > 1:
                img = img.reduce(k)
            img.save(out / f"{it.object_id}_{j}.png")
            n += 1
    r.delete()
    return time.perf_counter() - t0, n


def bare_blender(items, views: int, out: Path) -> tuple[float, int]:
    """Per object: empty scene, Blender's own importer, camera + light, render, save PNG."""
    import bpy
    from mathutils import Matrix

    from aist_plugins.blender_renderer import quiet_stdout

    cfg = RenderConfig(views=views)
    t0 = time.perf_counter()
    n = 0
    for it in items:
        jobs, _ = plan_views(cfg, it.object_id)
        bpy.ops.wm.read_factory_settings(use_empty=True)
        scene = bpy.context.scene
        with quiet_stdout(out / "blender.log"):
            if it.path.suffix.lower() == ".obj":
                bpy.ops.wm.obj_import(filepath=str(it.path))
            else:
                bpy.ops.import_scene.gltf(filepath=str(it.path))
        scene.render.engine = "CYCLES"
        scene.cycles.samples = 16
        scene.cycles.use_denoising = False
        scene.render.film_transparent = True
        scene.render.resolution_x = scene.render.resolution_y = 128
        cam = bpy.data.objects.new("cam", bpy.data.cameras.new("cam"))
        scene.collection.objects.link(cam)
        scene.camera = cam
        light = bpy.data.objects.new("light", bpy.data.lights.new("light", "POINT"))
        light.data.energy = 300
        scene.collection.objects.link(light)
        for k, job in enumerate(jobs):
            cam.matrix_world = Matrix(job.camera.camera_to_world_gl().tolist())
            light.location = job.lights.lights[0].position
            scene.render.filepath = str(out / f"{it.object_id}_{k}.png")
            with quiet_stdout(out / "blender.log"):
                bpy.ops.render.render(write_still=True)
            n += 1
    return time.perf_counter() - t0, n


def bench_renderer(name: str, cls, items, meshes: Path, views: int, tmp: Path,
                   rounds: int) -> None:
    """Bare loop(s) and AIST in alternation, ``rounds`` times: the medians and their ratio
    (this machine's speed drifts by a third from minute to minute)."""
    import statistics

    bare = bare_pyrender if name == "pyrender" else bare_blender
    warm = tmp / f"warm-{name}"
    warm.mkdir()
    bare(items[:1], 1, warm)  # warm-up (GL context, Blender start-up)
    loops = {"bare loop (load, render, save PNG)": lambda out: bare(items, views, out)}
    if name == "pyrender":
        loops["bare loop at 2x2 supersampling"] = (
            lambda out: bare_pyrender(items, views, out, supersample=2))
    rates: dict[str, list[float]] = {key: [] for key in [*loops, "AIST"]}
    timings: dict[str, float] = {}
    for r in range(rounds):
        for j, (key, loop) in enumerate(loops.items()):
            out = tmp / f"bare-{name}-{j}-{r}"
            out.mkdir()
            t, n = loop(out)
            rates[key].append(n / t)
        cfg = RenderConfig(renderer=name, views=views, device="cpu")
        s = run_pipeline(meshes, tmp / f"aist-{name}-{r}", cfg, cls)
        assert not s.failed, s.failed
        rates["AIST"].append(s.views / s.seconds)
        for k, v in s.timings.items():
            timings[k] = timings.get(k, 0.0) + v
    med = {key: statistics.median(v) for key, v in rates.items()}
    print(f"\n[{name}] {len(items)} objects x {views} views at 128x128 (CPU), "
          f"median of {rounds} alternating rounds")
    for key, v in rates.items():
        label = "AIST end to end" if key == "AIST" else key
        print(f"  {label + ':':42s}{med[key]:6.1f} views/s  (rounds: "
              + ", ".join(f"{x:.1f}" for x in v) + ")")
    for key in loops:
        print(f"  ratio AIST / {key.split(' (')[0]}: {med['AIST'] / med[key]:.2f}x")
    total = sum(timings.values())
    print("  share of AIST's time: " + ", ".join(f"{k} {100 * v / total:.0f}%"
                                                for k, v in timings.items()))


def bench_memory(name: str, cls, items, n_objects: int, views: int, tmp: Path) -> None:
    coll = tmp / f"coll-{name}"
    coll.mkdir()
    for k in range(n_objects):
        src = items[k % len(items)].path
        d = coll / f"obj{k:03d}"
        d.mkdir()
        for f in src.parent.iterdir():  # keep .mtl and textures next to the mesh
            (d / f.name).symlink_to(f)
    cfg = RenderConfig(renderer=name, views=views, points=20_000, device="cpu")
    gen = render_collection(coll, tmp / f"mem-{name}", cfg, cls)
    samples = []
    for p in gen:
        samples.append(rss_mb())
        assert p.status != "failed", p.message
    # Resident memory swings with the object just rendered (a textured 100k-triangle car vs
    # a plain chair); compare the peaks of the first and the last fifth of the run.
    k = max(1, n_objects // 5)
    first, last = max(samples[:k]), max(samples[-k:])
    print(f"\n[{name}] memory over {n_objects} objects x {views} views in one process")
    print(f"  peak RSS over the first {k} objects: {first:.0f} MB; over the last {k}: "
          f"{last:.0f} MB; overall peak {max(samples):.0f} MB; growth {last - first:+.0f} MB "
          f"({(last - first) / max(1, n_objects - k):+.2f} MB/object)")
    slope = np.polyfit(np.arange(len(samples)), samples, 1)[0]
    print(f"  least-squares trend over all {len(samples)} objects: {slope:+.2f} MB/object")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--meshes", type=Path, default=ROOT.parent / "shared" / "data" / "meshes")
    ap.add_argument("--views", type=int, default=20)
    ap.add_argument("--blender-views", type=int, default=5)
    ap.add_argument("--memory-objects", type=int, default=100)
    ap.add_argument("--skip-blender", action="store_true")
    ap.add_argument("--skip-memory", action="store_true")
    ap.add_argument("--rounds", type=int, default=3,
                    help="alternating rounds of bare loop and AIST (medians are reported)")
    args = ap.parse_args()
    from aist_app.api.manager import create_plugin_manager

    pm = create_plugin_manager()
    items = discover(args.meshes)
    print(f"meshes: {args.meshes} ({len(items)} objects); cores: {os.cpu_count()}")
    renderers = ["pyrender"] + ([] if args.skip_blender else ["blender"])
    with tempfile.TemporaryDirectory(prefix="aist-bench-") as tmp:
        tmp = Path(tmp)
        for name in renderers:
            views = args.views if name == "pyrender" else args.blender_views
            bench_renderer(name, pm.stage("renderer", name).factory, items, args.meshes,
                           views, tmp, args.rounds)
        if not args.skip_memory:
            for name in renderers:
                bench_memory(name, pm.stage("renderer", name).factory, items,
                             args.memory_objects, 5, tmp)


if __name__ == "__main__":
    main()
