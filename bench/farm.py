"""Render-farm throughput: 1 and 2 workers, Celery + Redis against the local process pool.

    .venv/bin/python bench/farm.py [--meshes ../shared/data/meshes] [--objects 12] [--views 10]

Builds a collection of ``--objects`` objects from the shared meshes (symlinks; distinct ids,
so distinct views), then renders the same job four ways: local pool with 1 and 2 workers, and
Celery workers (started beforehand, as on a farm) with 1 and 2 workers, each worker one
process with one render thread, pinned to its own core (so "1 worker" is one core's worth,
PNG encoding included). Prints views/s, the scaling efficiency from 1 to 2 workers
(throughput ratio / 2) and the farm's overhead against the local pool for the same job.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from aist_app.api.progress import drain  # noqa: E402
from aist_app.render.pipeline import RenderConfig  # noqa: E402
from aist_app.scene.meshes import discover  # noqa: E402
from aist_farm.broker import free_port, start_redis  # noqa: E402
from aist_farm.celery_app import submit  # noqa: E402
from aist_farm.job import Job  # noqa: E402
from aist_farm.local import LocalOptions, run_local  # noqa: E402

AIST = str(Path(sys.executable).with_name("aist"))


def build_collection(meshes: Path, n: int, root: Path) -> Path:
    sources = discover(meshes)
    for k in range(n):
        src = sources[k % len(sources)]
        target = src.path.parent if src.layout == "shapenet-v1" else src.path
        link = root / f"obj{k:03d}{'' if target.is_dir() else target.suffix}"
        if target.is_dir():
            link.mkdir(parents=True)
            (link / "model.obj").symlink_to(target / "model.obj")
            for extra in target.iterdir():
                if extra.name != "model.obj":
                    (link / extra.name).symlink_to(extra)
        else:
            root.mkdir(parents=True, exist_ok=True)
            link.symlink_to(target)
    return root




def run_local_job(meshes: Path, out: Path, cfg: RenderConfig, workers: int) -> float:
    """The pool's processes inherit this process's CPU set: ``workers`` cores."""
    everything = os.sched_getaffinity(0)
    os.sched_setaffinity(0, set(sorted(everything)[:workers]))
    try:
        t0 = time.perf_counter()
        job = Job.create(out, discover(meshes), cfg, meshes)
        st = drain(run_local(job, LocalOptions(workers=workers, threads=1)))
        assert st.finished and not st.failed, st.line()
        return time.perf_counter() - t0
    finally:
        os.sched_setaffinity(0, everything)


def run_farm_job(meshes: Path, out: Path, cfg: RenderConfig, workers: int, url: str,
                 tmp: Path) -> float:
    env = {**os.environ, "PYOPENGL_PLATFORM": "egl"}
    cores = sorted(os.sched_getaffinity(0))
    procs = [subprocess.Popen(["taskset", "-c", str(cores[k % len(cores)]),
                               AIST, "farm", "worker", "--broker", url, "--name", f"b{k}@%h",
                               "--threads", "1", "--loglevel", "WARNING"],
                              stdout=open(tmp / f"w{k}.log", "w"), stderr=subprocess.STDOUT,
                              env=env, start_new_session=True) for k in range(workers)]
    try:
        time.sleep(4.0)  # workers are long-lived on a farm: do not time their start
        t0 = time.perf_counter()
        job = Job.create(out, discover(meshes), cfg, meshes, broker=url)
        submit(job, url)
        while not (st := job.status()).finished:
            time.sleep(0.05)
        assert not st.failed, st.line()
        return time.perf_counter() - t0
    finally:
        for p in procs:
            os.killpg(p.pid, signal.SIGTERM)
            p.wait(30)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--meshes", type=Path, default=ROOT.parent / "shared" / "data" / "meshes")
    ap.add_argument("--objects", type=int, default=12)
    ap.add_argument("--views", type=int, default=10)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--repeat", type=int, default=2,
                    help="Runs per configuration; the fastest counts (VM noise).")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="aist-bench-farm-"))
    port = free_port()
    redis = start_redis(port, tmp / "redis")
    url = f"redis://127.0.0.1:{port}/0"
    try:
        meshes = build_collection(args.meshes, args.objects, tmp / "meshes")
        cfg = RenderConfig(views=args.views, image_size=(args.size, args.size), device="cpu")
        views = args.objects * args.views
        print(f"{args.objects} objects x {args.views} views at {args.size}^2 (pyrender, CPU); "
              f"cores: {os.cpu_count()}; one render thread per worker, one core each; "
              f"best of {args.repeat}")
        t = {}
        for _ in range(args.repeat):
            for workers in (1, 2):
                for kind in ("local", "farm"):
                    out = tmp / f"{kind}{workers}"
                    shutil.rmtree(out, ignore_errors=True)
                    s = (run_local_job(meshes, out, cfg, workers) if kind == "local" else
                         run_farm_job(meshes, out, cfg, workers, url, tmp))
                    t[kind, workers] = min(s, t.get((kind, workers), float("inf")))
        for (kind, workers), s in sorted(t.items()):
            print(f"  {kind:5s} {workers} worker(s): {views / s:6.1f} views/s  ({s:.2f} s)")
        for kind in ("local", "farm"):
            eff = t[kind, 1] / t[kind, 2] / 2
            print(f"  scaling efficiency 1 -> 2 workers ({kind}): {eff:.2f}  (target >= 0.85)")
        for workers in (1, 2):
            over = t["farm", workers] / t["local", workers] - 1
            print(f"  farm overhead vs local pool, {workers} worker(s): {over * 100:+.1f}%  "
                  "(target <= 10%)")
        same = all((tmp / "local1" / "objects" / o / "cameras.json").read_bytes()
                   == (tmp / f"{k}" / "objects" / o / "cameras.json").read_bytes()
                   for k in ("local2", "farm1", "farm2")
                   for o in os.listdir(tmp / "local1" / "objects"))
        print(f"  identical cameras across all four runs: {same}")
    finally:
        redis.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
