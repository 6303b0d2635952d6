"""A real third-party stylizer for tests, installed through an entry point like any other
package's: ``toy-tint`` learns the mean colour offset of the object pixels between the two
domains (one view a step) and adds it to every view, keeping the alpha, cameras and points.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from aist_app import hookimpl


@dataclass
class TintConfig:
    steps: int = 4
    strength: float = 1.0  # fraction of the learned offset applied
    seed: int = 0
    device: str = "auto"


def _mean_rgb(ds, oid: str, file: str) -> np.ndarray:
    rgba = ds.load_view(oid, file).astype(np.float64)
    on = rgba[..., 3] > 0
    return rgba[on, :3].mean(0) if on.any() else np.zeros(3)


class TintTrainer:
    def __init__(self, config: TintConfig, synthetic, real, run_dir, *, resume: bool = False,
                 overwrite: bool = False) -> None:
        from aist_app.dataset import Dataset

        self.config, self.step, self.total = config, 0, config.steps
        self.synthetic, self.real = Dataset.open(synthetic), Dataset.open(real)
        self.run_dir = Path(run_dir)
        if self.run_dir.exists() and any(self.run_dir.iterdir()) and not (resume or overwrite):
            raise ValueError(f"{run_dir}: not empty (--overwrite)")

    def notes(self) -> list[str]:
        return [f"toy-tint: {self.total} steps"]

    def run(self):
        from aist_app.common.io_utils import atomic_write_json
        from aist_app.stages.progress import TrainProgress

        rng = np.random.default_rng(self.config.seed)
        offsets = []
        while self.step < self.total:
            views = []
            for ds in (self.synthetic, self.real):
                oids = ds.object_ids()
                oid = oids[rng.integers(len(oids))]
                files = ds.view_files(oid)
                views.append(_mean_rgb(ds, oid, files[rng.integers(len(files))]))
            offsets.append(views[1] - views[0])
            self.step += 1
            yield TrainProgress(self.step, self.total, {"offset": float(np.abs(offsets[-1])
                                                                         .mean())})
        path = self.run_dir / "checkpoints" / "tint.json"
        atomic_write_json(path, {"offset": np.mean(offsets, 0).tolist(),
                                 "config": asdict(self.config)})
        yield TrainProgress(self.step, self.total, {}, "done", {"path": str(path)})
        return path


class ToyTint:
    """Adds the learned mean colour offset (a test stylizer)."""

    name = "toy-tint"
    description = "Toy stylizer: the mean colour offset between the domains"
    needs_gpu = False
    progress_keys = ("offset",)

    @staticmethod
    def config_class() -> type:
        return TintConfig

    @staticmethod
    def trainer(config, synthetic, real, run_dir, *, resume=False, overwrite=False):
        return TintTrainer(config, synthetic, real, run_dir, resume=resume, overwrite=overwrite)

    @staticmethod
    def resume(run, *, steps=None, device="auto"):
        raise ValueError(f"{run}: toy-tint runs are not resumable")

    @staticmethod
    def stylize(run, dataset, out, *, batch=32, device="auto", overwrite=False):
        from aist_app.common.outputs import OutputRecord, dataset_identity
        from aist_app.dataset import Dataset
        from aist_app.dataset.writer import DatasetWriter
        from aist_app.stages.progress import ItemProgress
        from aist_app.stylize.apply import StylizeSummary

        ck = Path(run) / "checkpoints" / "tint.json" if Path(run).is_dir() else Path(run)
        tint = json.loads(ck.read_text())
        offset = np.asarray(tint["offset"]) * tint["config"]["strength"]
        src = Dataset.open(dataset, check="meta")
        record = OutputRecord("stylize", "toy-tint", {}, {"input": dataset_identity(src.root)})
        writer = DatasetWriter(out, kind="stylized", record=record, overwrite=overwrite,
                               image_size=src.image_size, source={"stage": "stylize",
                                                                  "plugin": "toy-tint"})
        summary = StylizeSummary(out=Path(out))
        ids = src.object_ids()
        try:
            for n, oid in enumerate(ids, 1):
                with writer.object(oid) as obj:
                    for f in src.view_files(oid):
                        rgba = src.load_view(oid, f).copy()
                        rgb = rgba[..., :3].astype(np.float64) + offset
                        rgba[..., :3] = np.clip(rgb, 0, 255).round().astype(np.uint8)
                        rgba[rgba[..., 3] == 0, :3] = 0
                        obj.add_view(rgba, name=f)
                        summary.views += 1
                    d = src.object_dir(oid)
                    for p in [d / "cameras.json", d / "points.npz"]:
                        if p.exists():
                            obj.copy_file(p)
                summary.written.append(oid)
                yield ItemProgress(n, len(ids), oid, "rendered")
            writer.finalize(splits={k: src.object_ids(k) for k in ("train", "val", "test")},
                            source={"summary": summary.as_dict()})
        finally:
            writer.close()
        return summary


@hookimpl
def aist_register_stages(registry) -> None:
    registry.add_stylizer(ToyTint)


def install(site: Path) -> dict[str, str]:
    """This module as the entry point ``toy-stages`` in ``site``; the environment to run
    ``aist`` with it."""
    from tests.helpers.site import install_entry_point

    return install_entry_point(site, Path(__file__), "aist_toy_stages", "toy-stages")
