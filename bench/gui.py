"""Desktop-app scale: the time to open a dataset of 10,000 views and show the first screen of
thumbnails, and the process memory while scrolling through all of it (must stay flat); the
Compare page opening evaluations of 3,000 real views x 3 models (the report's real test set
has 2,818), sorting them by a difference, predicting every view in the background (the event
loop's longest pause meanwhile) and opening them again from the disk cache.

    .venv/bin/python bench/gui.py [--views 10000] [--compare-views 3000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from aist_app.dataset.writer import DatasetWriter  # noqa: E402
from aist_app.scene.cameras import orbit_camera  # noqa: E402


def rss_mb() -> float:
    with open(f"/proc/{os.getpid()}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def make_dataset(out: Path, views: int, per_object: int = 10) -> Path:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:128, :128]
    with DatasetWriter(out, kind="synthetic", image_size=(128, 128),
                       png_compress_level=1) as w:
        for k in range(views // per_object):
            with w.object(f"obj{k:05d}") as obj:
                obj.set_points(rng.uniform(-0.5, 0.5, (500, 3)), np.zeros((500, 3)))
                for v in range(per_object):
                    rgba = np.zeros((128, 128, 4), np.uint8)
                    r = 20 + (k + v) % 30
                    m = (yy - 64) ** 2 + (xx - 64) ** 2 < r * r
                    rgba[m, :3] = rng.integers(1, 255, 3)
                    rgba[m, 3] = 255
                    obj.add_view(rgba, orbit_camera(36.0 * v, 20.0, image_size=(128, 128)))
        w.finalize(seed=0)
    return out


def make_real_set(out: Path, views: int, size: int = 64) -> Path:
    """A real test set of ``views`` single-view objects (masks of varied size and place)."""
    rng = np.random.default_rng(2)
    yy, xx = np.mgrid[:size, :size]
    with DatasetWriter(out, kind="real", image_size=(size, size),
                       png_compress_level=1) as w:
        for k in range(views):
            rgba = np.zeros((size, size, 4), np.uint8)
            cy, cx = rng.uniform(0.35, 0.65, 2) * size
            ry, rx = rng.uniform(0.1, 0.3, 2) * size
            m = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 < 1
            rgba[m, :3] = rng.integers(1, 255, 3)
            rgba[m, 3] = 255
            with w.object(f"photo{k:05d}") as obj:
                obj.add_view(rgba)
        w.finalize(seed=0)
    return out


def make_runs(root: Path, names: list[Path]) -> None:
    """Pose runs of the cpu preset's network (one training step: the Compare page's cost
    does not depend on how trained a model is)."""
    from aist_plugins.dpc.config import PoseConfig
    from aist_plugins.dpc.train import PoseTrainer

    train = make_dataset(root / "train-set", 40)
    cfg = PoseConfig(steps=1, num_points=1000, vox_size=32, kernel_size=9, sigma_start=2.0,
                     sigma_end=0.5, image_size=64, f_dim=8, fc_dim=128, z_dim=128,
                     batch_objects=2, views_per_object=2, device="cpu", val_every=10**6,
                     checkpoint_every=1)
    for _ in PoseTrainer(cfg, train, names[0]).run():
        pass
    for run in names[1:]:
        shutil.copytree(names[0], run)


def make_evaluations(root: Path, views: int, models: int) -> Path:
    """An experiment folder holding what the Compare page reads: its config (which names
    its pose runs), the runs, a real test set and each run's per-view figures on it."""
    import json

    from aist_app.experiments.presets import pose_runs

    rng = np.random.default_rng(1)
    cfg = {"stylizer": {"variants": [f"v{i}" for i in range(1, models)]}}
    root.mkdir(parents=True, exist_ok=True)
    (root / "experiment.json").write_text(json.dumps(cfg))
    runs = [run for _, run in pose_runs(cfg, root).values()]
    if not (runs[-1] / "checkpoints").is_dir():
        make_runs(root, runs)
    if not (root / "real" / "dataset.json").is_file():
        make_real_set(root / "real", views)
    for run in runs:
        folder = root / "eval" / run.name
        folder.mkdir(parents=True, exist_ok=True)
        lines = ["object,view,xor"] + [f"photo{k:05d},view_000.png,{x:.5f}"
                                       for k, x in enumerate(rng.uniform(0, 1, views))]
        (folder / "per_view_real.csv").write_text("\n".join(lines) + "\n")
        (folder / ".aist-output.json").write_text(json.dumps({"inputs": {  # as aist evaluate
            "run": str(run / "checkpoints" / "last.pt"),
            "test_sets": [{"path": str(root / "real"), "kind": "real"}]}}))
    return root


def bench_compare(app, win, root: Path, views: int, models: int) -> None:
    from PySide6.QtCore import QTimer

    from aist_app.gui.compare import ComparePage

    make_evaluations(root, views, models)
    cache = Path(tempfile.mkdtemp(prefix="aist-bench-cache-"))
    page = ComparePage(cache_root=cache)
    win.tabs.addTab(page, "Compare (bench)")
    win.tabs.setCurrentWidget(page)
    # The event loop's longest pause while the predictions fill in the background.
    ticks: list[float] = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start(10)
    t0 = time.perf_counter()
    page.open_experiment(root)
    app.processEvents()
    t_open = time.perf_counter() - t0
    t0 = time.perf_counter()
    page.sort_by_difference(page.comparison.models[1])
    app.processEvents()
    t_sort = time.perf_counter() - t0
    print(f"Compare page: open {views} real views x {models} models and show the table: "
          f"{t_open:.2f} s; sort by a difference: {t_sort * 1000:.0f} ms "
          f"({page.model.rowCount()} rows)")
    t0 = time.perf_counter()
    page.select_row(0)  # a view asked for while the background job runs
    while len(page.overlays) < models:
        app.processEvents()
        time.sleep(0.002)
    t_view = time.perf_counter() - t0
    t_fill0 = time.perf_counter()
    while page._fill_job.isRunning():
        app.processEvents()
        time.sleep(0.002)
    t_fill = time.perf_counter() - t_fill0 + t_view
    gaps = np.diff(ticks) * 1000
    print(f"  background predictions of {views} x {models} views (cache empty): {t_fill:.1f} s "
          f"({views * models / t_fill:.0f} views/s); meanwhile the event loop's longest "
          f"pause {gaps.max():.0f} ms (median {np.median(gaps):.0f} ms, timer 10 ms), a view "
          f"selected meanwhile showed its overlays in {t_view:.2f} s")
    timer.stop()
    win.tabs.removeTab(win.tabs.indexOf(page))
    page.stop_background()
    # A new session on the same experiment: everything comes from the disk cache.
    again = ComparePage(cache_root=cache)
    t0 = time.perf_counter()
    again.open_experiment(root)
    again.wait_for_predictions()
    t_reopen = time.perf_counter() - t0
    t0 = time.perf_counter()
    again.select_row(views - 1)
    while len(again.overlays) < models:
        app.processEvents()
        time.sleep(0.002)
    t_cached = time.perf_counter() - t0
    size = sum(p.stat().st_size for p in cache.rglob("*") if p.is_file()) / 2**20
    print(f"  reopened (all cached, {size:.0f} MB on disk): table and cache check "
          f"{t_reopen:.2f} s; a view's overlays from the cache {t_cached * 1000:.0f} ms")
    again.stop_background()
    shutil.rmtree(cache, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--views", type=int, default=10_000)
    ap.add_argument("--compare-views", type=int, default=3000)
    ap.add_argument("--compare-models", type=int, default=3)
    ap.add_argument("--compare-only", action="store_true",
                    help="Only the Compare page's figures.")
    ap.add_argument("--keep", type=Path, help="Reuse/keep the generated dataset here.")
    args = ap.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="aist-bench-gui-"))
    ds = root / f"ds{args.views}"
    if not args.compare_only and not (ds / "dataset.json").exists():
        t0 = time.perf_counter()
        make_dataset(ds, args.views)
        print(f"made a dataset of {args.views} views in {time.perf_counter() - t0:.1f} s")
    from PySide6.QtWidgets import QApplication

    from aist_app.api.manager import create_plugin_manager
    from aist_app.gui.window import MainWindow

    app = QApplication([])
    win = MainWindow(create_plugin_manager())
    win.resize(1400, 860)
    win.show()
    app.processEvents()
    if args.compare_only:
        bench_compare(app, win, root / "compare", args.compare_views, args.compare_models)
        win.close()
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
        return
    b = win.browser
    rss0 = rss_mb()
    t0 = time.perf_counter()
    win.open_dataset(ds)
    app.processEvents()
    first = b.grid.indexAt(b.grid.rect().topLeft())
    visible = 0
    while time.perf_counter() - t0 < 60:  # until the first screen's thumbnails are in
        app.processEvents()
        rows = [b.grid.indexAt(b.grid.viewport().rect().topLeft())]
        shown = [i for i in range(b.model.rowCount())
                 if b.grid.visualRect(b.model.index(i)).intersects(b.grid.viewport().rect())]
        if shown and all(str(b.model.rows[i].path(ds)) in b.cache._cache for i in shown):
            visible = len(shown)
            break
        time.sleep(0.005)
    t_open = time.perf_counter() - t0
    del first, rows
    print(f"open {args.views} views and show the first screen ({visible} thumbnails): "
          f"{t_open:.2f} s; RSS {rss0:.0f} -> {rss_mb():.0f} MB")
    bar = b.grid.verticalScrollBar()
    samples = []
    steps = 40
    for k in range(steps + 1):
        bar.setValue(int(bar.maximum() * k / steps))
        t1 = time.perf_counter()
        while time.perf_counter() - t1 < 0.4:
            app.processEvents()
            time.sleep(0.005)
        samples.append(rss_mb())
    print(f"scrolled through all {args.views} views in {steps} jumps: RSS after each quarter "
          f"{[round(samples[i]) for i in (0, steps // 4, steps // 2, 3 * steps // 4, steps)]}"
          f" MB; cached thumbnails {len(b.cache)} (cap {b.cache.capacity}); peak "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    growth = samples[-1] - samples[len(samples) // 4]
    print(f"growth over the last three quarters of the scroll: {growth:+.0f} MB")
    bench_compare(app, win, root / "compare", args.compare_views, args.compare_models)
    win.close()
    app.processEvents()
    del win
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
