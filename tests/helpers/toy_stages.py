"""A real third-party stylizer and pose model for tests, installed through an entry point
like any other package's:

* ``toy-tint`` learns the mean colour offset of the object pixels between the two domains
  (one view a step) and adds it to every view, keeping the alpha, cameras and points;
* ``toy-mean`` learns, one training object a step, a mean shape (points pooled over the
  objects), the most common pose of the training views and the mean silhouette, and predicts
  them for every image. It declares only a trainer and a predictor: the core evaluates and
  reconstructs with it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from aist_app import hookimpl
from aist_app.api.config import setting
from aist_app.api.contracts import PoseModel, PosePredictor, Stylizer, Trainer


@dataclass
class TintConfig:
    steps: int = 4
    # `aist train-stylizer --stylizer toy-tint --strength 0.5`: an option this plugin
    # declares, which the command line offers with its help.
    strength: float = setting(1.0, help="Fraction of the learned colour offset applied.")
    seed: int = 0
    device: str = "auto"


def _mean_rgb(ds, oid: str, file: str) -> np.ndarray:
    rgba = ds.load_view(oid, file).astype(np.float64)
    on = rgba[..., 3] > 0
    return rgba[on, :3].mean(0) if on.any() else np.zeros(3)


class TintTrainer(Trainer):
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
        from aist_app.api.progress import TrainProgress
        from aist_app.common.io_utils import atomic_write_json

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


class ToyTint(Stylizer):
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
        from aist_app.api.progress import ItemProgress
        from aist_app.common.outputs import OutputRecord
        from aist_app.dataset import Dataset
        from aist_app.dataset.contract import dataset_identity
        from aist_app.dataset.writer import DatasetWriter
        from aist_plugins.cyclegan.apply import StylizeSummary

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


@dataclass
class MeanPoseConfig:
    steps: int = 3  # training objects pooled (one a step)
    num_points: int = 300
    grid: int = 32  # the silhouette grid
    seed: int = 0
    device: str = "auto"


class MeanPoseTrainer(Trainer):
    def __init__(self, config: MeanPoseConfig, dataset, run_dir, *, resume: bool = False,
                 overwrite: bool = False) -> None:
        from aist_app.common.outputs import OutputRecord, run_folder
        from aist_app.dataset.contract import dataset_identity
        from aist_app.pose.data import PoseData

        self.config, self.step, self.total = config, 0, config.steps
        self.dataset = str(Path(dataset).resolve())
        self.data = PoseData(dataset, "train")
        record = OutputRecord("train-pose", "toy-mean", asdict(config),
                              {"dataset": dataset_identity(dataset)})
        self.output, _ = run_folder(run_dir, record, checkpoint="checkpoints/toy.json",
                                    resume=resume, overwrite=overwrite, what="pose run")

    def notes(self) -> list[str]:
        return [f"toy-mean: {self.total} objects"]

    def run(self):
        import torch

        from aist_app.api.progress import TrainProgress
        from aist_app.common.io_utils import atomic_write_json, atomic_write_jsonl
        from aist_app.pose.data import images_and_masks

        c, rng = self.config, np.random.default_rng(self.config.seed)
        points, quats, masks, rows = [], [], [], []
        ids = self.data.ids
        while self.step < self.total:
            oid = ids[self.step % len(ids)]
            gt = self.data.gt_points(oid)
            points.append(gt[rng.choice(len(gt), min(len(gt), c.num_points), replace=False)])
            q = self.data.gt_quaternions(oid)
            quats.extend(q[f] for f in self.data.views[oid])
            _, m = images_and_masks(self.data.load(oid, self.data.views[oid]), 32, c.grid)
            masks.append(m.numpy().mean(0))
            self.step += 1
            rows.append({"step": self.step, "objects": self.step})
            yield TrainProgress(self.step, self.total, {"objects": float(self.step)})
        pooled = np.concatenate(points)
        pooled = pooled[rng.choice(len(pooled), c.num_points, replace=False)]
        q = torch.from_numpy(np.stack(quats))
        dots = (q @ q.T).abs()  # the view whose pose is nearest the others
        mode = q[int((dots > np.cos(np.radians(15))).sum(1).argmax())]
        path = self.output.path / "checkpoints" / "toy.json"
        atomic_write_json(path, {"points": pooled.tolist(), "quaternion": mode.tolist(),
                                 "silhouette": np.mean(masks, 0).tolist(),
                                 "step": self.step, "dataset": self.dataset,
                                 "config": asdict(c)})
        atomic_write_jsonl(self.output.path / "metrics.jsonl", rows)
        yield TrainProgress(self.step, self.total, {}, "done", {"path": str(path)})
        return path


class MeanPosePredictor(PosePredictor):
    """What a ``toy-mean`` run predicts (the core's PosePredictor)."""

    camera_distance = 2.0
    focal_length = 1.0
    batch = 8

    def __init__(self, run, device: str = "auto") -> None:
        run = Path(run)
        self.run_dir = run if run.is_dir() else run.parent.parent
        self.checkpoint = self.run_dir / "checkpoints" / "toy.json"
        try:
            ck = json.loads(self.checkpoint.read_text())
        except (OSError, ValueError) as e:
            raise ValueError(f"{self.checkpoint}: not a toy-mean checkpoint ({e})") from None
        self.step, self.training_set = ck["step"], Path(ck["dataset"])
        self.points = np.asarray(ck["points"], dtype=np.float32)
        self.quaternion = np.asarray(ck["quaternion"], dtype=np.float32)
        self.silhouette = np.asarray(ck["silhouette"], dtype=np.float32)

    def predict(self, data, *, render=False, limit=None, views=None):
        from aist_app.pose.data import images_and_masks
        from aist_app.pose.evaluate import Prediction

        if views is None:
            views = [(oid, f) for oid in data.ids[:limit] for f in data.views[oid]]
        out = []
        for oid, f in views:
            _, mask = images_and_masks(data.load(oid, [f]), 32, len(self.silhouette))
            out.append(Prediction(oid, f, self.points.copy(), self.quaternion.copy(),
                                  mask[0].numpy() > 0.5,
                                  self.silhouette.copy() if render else None))
        return out

    def predict_view(self, rgba) -> dict:
        return {"points": self.points.astype(np.float64),
                "quaternion": self.quaternion.astype(np.float64)}


class ToyMeanPose(PoseModel):
    """Predicts the training set's mean shape and most common pose (a test pose model)."""

    name = "toy-mean"
    description = "Toy pose model: the mean shape and the most common pose of its training set"
    needs_gpu = False
    progress_keys = ("objects",)

    @staticmethod
    def config_class() -> type:
        return MeanPoseConfig

    @staticmethod
    def trainer(config, dataset, run_dir, *, resume=False, overwrite=False):
        return MeanPoseTrainer(config, dataset, run_dir, resume=resume, overwrite=overwrite)

    @staticmethod
    def resume(run, *, steps=None, device="auto"):
        raise ValueError(f"{run}: toy-mean runs are not resumable")

    @staticmethod
    def predictor(run, *, device="auto"):
        return MeanPosePredictor(run, device)


@hookimpl
def aist_register_stages(registry) -> None:
    registry.add_stylizer(ToyTint)
    registry.add_pose_model(ToyMeanPose)


def check_tint(options):
    """A doctor check of this plugin: passes unless AIST_TOY_TINT_BROKEN is set."""
    import os

    from aist_app.api.checks import Check

    if os.environ.get("AIST_TOY_TINT_BROKEN"):
        return Check("toy-tint", "missing", "the tint table is broken",
                     "unset AIST_TOY_TINT_BROKEN")
    return Check("toy-tint", "ok", "tint table in order")


@hookimpl
def aist_register_checks(checks) -> None:
    checks.add("toy-tint", check_tint, stages=("stylize-toy",))


@hookimpl
def aist_register_commands(cli) -> None:
    import click

    @cli.command("toy-tint-info")
    @click.argument("run", type=click.Path(exists=True, path_type=Path))
    def toy_tint_info(run: Path) -> None:
        """Print a toy-tint run's learned colour offset."""
        tint = json.loads((run / "checkpoints" / "tint.json").read_text())
        click.echo("offset " + " ".join(f"{v:.4f}" for v in tint["offset"]))


def install(site: Path) -> dict[str, str]:
    """This module as the entry point ``toy-stages`` in ``site``; the environment to run
    ``aist`` with it."""
    from tests.helpers.site import install_entry_point

    return install_entry_point(site, Path(__file__), "aist_toy_stages", "toy-stages")
