"""Training the DPC model with full-state checkpoints (models, optimizer, RNG, step).

:class:`PoseTrainer.run` is a generator of :class:`~aist_app.api.progress.TrainProgress`,
like the stylizer's. Checkpoints (``RUN/checkpoints/last.pt``) are atomic and load with
``weights_only=True``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Generator
from pathlib import Path

import torch

from aist_app.api.contracts import Trainer
from aist_app.api.progress import TrainProgress
from aist_app.api.training import Every, training_loop
from aist_app.common import checkpoints
from aist_app.common.checkpoints import CheckpointError, load_module, restore_rng, rng_state
from aist_app.common.devices import amp_dtype, autocast, cpu_kernels, resolve_device, to_device
from aist_app.common.io_utils import atomic_write_bytes, atomic_write_json, atomic_write_jsonl
from aist_app.common.outputs import OutputRecord, content_config, run_folder
from aist_app.dataset.contract import dataset_identity
from aist_app.pose.data import PoseData, images_and_masks
from aist_plugins.dpc.config import PoseConfig
from aist_plugins.dpc.loss import dpc_loss, shape_views
from aist_plugins.dpc.model import dpc_model, weight_decay_loss
from aist_plugins.dpc.projection import colour_targets
from aist_plugins.dpc.recover import PoseDraws, recover_loss

FORMAT = "aist-pose"
#: Config fields that do not change what the run computes up to a step: a resume may change
#: them (``steps`` says where to stop, so ``--resume RUN --steps N`` trains on to N; the
#: schedules that follow the total, sigma, point dropout and the lr switch, stretch to it).
NOT_CONTENT = ("device", "steps", "checkpoint_every", "val_every", "log_every",
               "pose_eval_every", "pose_eval_objects")


PoseCheckpointError = CheckpointError


def save_checkpoint(path: Path, state: dict) -> None:
    checkpoints.save(path, FORMAT, state)


def load_checkpoint(run_or_checkpoint: str | Path) -> dict:
    return checkpoints.load(run_or_checkpoint, FORMAT, "pose-model")


BEST = "best.pt"


def load_selected(run_or_checkpoint: str | Path) -> dict:
    """The checkpoint a run predicts with: a checkpoint file as given; a run folder's
    ``checkpoints/best.pt`` when its config selects ``best-val`` (and one was kept), else its
    ``last.pt``."""
    ck = load_checkpoint(run_or_checkpoint)
    best = Path(ck["path"]).with_name(BEST)
    if Path(run_or_checkpoint).is_dir() and best.is_file() \
            and ck["config"].get("select_checkpoint") == "best-val":
        return load_checkpoint(best)
    return ck


def better(a: dict[str, float], b: dict[str, float] | None) -> bool:
    """Whether validation pose figures ``a`` beat ``b``: acc@30 under the reference
    alignment first, then the median error."""
    if b is None:
        return True
    if a["val_acc30"] != b["val_acc30"]:
        return a["val_acc30"] > b["val_acc30"]
    return a["val_median_err_deg"] < b["val_median_err_deg"]


def load_model(ck: dict, device) -> torch.nn.Module:
    config = PoseConfig.from_dict(ck["config"])
    model = dpc_model(config=config)
    load_module(model, ck["model"], "the DPC model", ck["path"])
    return model.to(device).eval()


class PoseTrainer(Trainer):
    def __init__(self, config: PoseConfig, dataset: str | Path, run_dir: str | Path, *,
                 resume: bool = False, overwrite: bool = False) -> None:
        """Train in ``run_dir``; a folder of the same training continues from its checkpoint
        (``resume`` demands one), any other is refused unless ``overwrite``."""
        config.validate()
        self.dataset = str(Path(dataset).resolve())  # the checkpoint's, usable from anywhere
        self.device = torch.device(resolve_device(config.device))
        self.train_data = PoseData(dataset, "train")
        root, kind = self.train_data.ds.root, self.train_data.ds.kind
        if not self.train_data.has_gt or kind == "real":
            raise ValueError(f"{root}: a {kind} dataset without cameras or ground truth; the "
                             "pose model trains on a synthetic or stylized dataset (several "
                             "views of each object with their cameras)")
        if not self.train_data.views:
            raise ValueError(f"{root}: its train split is empty")
        fewest = min(self.train_data.views.items(), key=lambda kv: len(kv[1]))
        if len(fewest[1]) < config.views_per_object:
            raise ValueError(f"{root}: object {fewest[0]} has {len(fewest[1])} view(s); "
                             f"training takes {config.views_per_object} views of each object "
                             "(--views-per-object, or render more --views)")
        focal = self.train_data.focal_length()
        if focal is not None:  # the dataset's camera, not a constant
            config = dataclasses.replace(config, focal_length=focal)
        self.config = config
        try:
            self.val_data = PoseData(dataset, "val")
        except ValueError:
            self.val_data = self.train_data
        self.gen = torch.Generator().manual_seed(config.seed)
        # pose_recover's poses: the training set's cameras turned about the up axis.
        self.draws = PoseDraws.of(self.train_data) if config.pose_recover > 0 else None
        torch.manual_seed(config.seed)
        self.model = dpc_model(config=config).to(self.device)
        # Plain Adam; the reference adds its L2 weight decay to the loss (train.py).
        self.opt = torch.optim.Adam(self.model.parameters(), lr=config.lr)
        switch = int(config.lr_step_frac * config.steps)
        ratio = config.lr_2 / config.lr

        self.sched = torch.optim.lr_scheduler.LambdaLR(
            self.opt, lambda s: 1.0 if s < switch else ratio)
        # bf16 only: the pose model has no gradient scaler (fp16 cards train in fp32).
        dtype = amp_dtype(self.device, config.amp)
        self.amp_dtype = dtype if dtype == torch.bfloat16 else None
        self.step = 0
        self.history: list[dict] = []
        self.best: dict | None = None  # the kept best.pt's step and validation figures
        record = OutputRecord("train-pose", "dpc", content_config(config.as_dict(), NOT_CONTENT),
                              {"dataset": dataset_identity(dataset)})
        self.output, resume = run_folder(run_dir, record, checkpoint="checkpoints/last.pt",
                                         resume=resume, overwrite=overwrite, what="pose run")
        self.run_dir = self.output.path
        if resume:
            self._restore(load_checkpoint(self.run_dir))

    def _batch(self, data: PoseData, generator: torch.Generator):
        c = self.config
        oids, files = data.sample(c.batch_objects, c.views_per_object, generator)
        rgba = torch.cat([data.load(o, f) for o, f in zip(oids, files, strict=True)])
        images, masks = images_and_masks(rgba, c.image_size, c.vox_size)
        return (to_device(images, self.device),
                to_device(masks.view(len(oids), c.views_per_object, c.vox_size, c.vox_size),
                          self.device))

    def _colour_targets(self, images: torch.Tensor, objects: int) -> torch.Tensor | None:
        """The images on white in [0, 1] at the grid size (B, V, 3, G, G), for ``pc_rgb``
        (``add_proj_rgb_loss`` resizes them bilinearly)."""
        c = self.config
        if not c.colour_loss:
            return None
        g = c.vox_size
        return colour_targets(images, g).view(objects, c.views_per_object, 3, g, g)

    def _forward(self, images: torch.Tensor, objects: int) -> dict[str, torch.Tensor]:
        c = self.config
        with autocast(self.device, self.amp_dtype):
            out = self.model(images, shape_views(objects, c.views_per_object, c, self.device))
        return {k: v.float() for k, v in out.items()}

    def prototype_mix(self, step: int) -> float:
        """How much of the images' own latents the shapes use at ``step`` (0 during the
        prototype warm-up, then linear to 1 over the release)."""
        c = self.config
        t = step / c.steps - c.prototype_warmup
        return 1.0 if c.prototype_release <= 0 else min(max(t / c.prototype_release, 0.0), 1.0)

    def train_step(self) -> dict[str, float]:
        if self.config.prototype_warmup > 0:
            self.model.set_prototype_mix(self.prototype_mix(self.step))
        images, masks = self._batch(self.train_data, self.gen)
        out = self._forward(images, masks.shape[0])
        losses = dpc_loss(out, masks, self.config, self.step, self.gen,
                          self._colour_targets(images, masks.shape[0]))
        if self.draws is not None:
            with autocast(self.device, self.amp_dtype):
                recover = recover_loss(self.model, out, self.draws, self.config, self.step,
                                       self.gen)
            losses["total"] = losses["total"] + recover
            losses["recover"] = recover.detach()
        reg = self.config.weight_decay * weight_decay_loss(self.model)
        losses["total"] = losses["total"] + reg
        losses["weight_decay"] = reg.detach()
        self.opt.zero_grad(set_to_none=True)
        losses["total"].backward()
        if self.config.clip_grad:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.clip_grad)
        self.opt.step()
        self.sched.step()
        self.step += 1
        result = {k: float(v.detach()) for k, v in losses.items()}
        if not math.isfinite(result["total"]):
            raise FloatingPointError(f"step {self.step}: loss is not finite ({result}); try "
                                     "--clip-grad 5")
        return result

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        g = torch.Generator().manual_seed(12345)  # the same validation batch every time
        images, masks = self._batch(self.val_data, g)
        self.model.eval()
        try:
            out = self._forward(images, masks.shape[0])
            losses = dpc_loss(out, masks, self.config, self.step, g,
                              self._colour_targets(images, masks.shape[0]))
        finally:
            self.model.train()
        return {"val_projection": float(losses["projection"]),
                "val_student": float(losses["student"])}

    @torch.no_grad()
    def evaluate_pose(self) -> dict[str, float]:
        """acc@30, median error and Chamfer on the first validation objects (aligned on
        them, as the reference aligns on validation objects), with the chance baselines of
        the same views: one point of the learning curves."""
        from aist_app.pose.evaluate import Evaluator
        from aist_plugins.dpc.predictor import DPCPredictor

        n = self.config.pose_eval_objects
        self.model.eval()
        try:
            ev = Evaluator(DPCPredictor(None, device=str(self.device), model=self.model,
                                        config=self.config))
            preds = ev.predict(self.val_data, limit=n)
            align, _ = ev.alignment(self.val_data, preds)
            res = ev.evaluate_set(self.val_data, align, limit=n)
        finally:
            self.model.train()
        keys = ("acc30", "median_err_deg", "chamfer", "acc30_random", "median_err_random",
                "acc30_constant", "median_err_constant", "acc30_best_align",
                "median_err_best_align", "acc30_front_back", "median_err_front_back",
                "acc30_constant_front_back")
        return {f"val_{k}": float(res.metrics[k]) for k in keys}

    def evaluate_and_keep(self) -> dict[str, float]:
        """:meth:`evaluate_pose`; with ``select_checkpoint = "best-val"`` the model is kept
        in ``checkpoints/best.pt`` when its figures beat the kept one's (and the figures
        get ``kept``: 1, so the last point with it is the one that predicts)."""
        pose = self.evaluate_pose()
        if self.config.select_checkpoint == "best-val" and better(pose, self.best):
            self.best = {"step": self.step, **pose}
            save_checkpoint(self.run_dir / "checkpoints" / BEST, {
                "config": self.config.as_dict(), "step": self.step, "dataset": self.dataset,
                "model": self.model.state_dict(), "selected_by": self.best})
            return {**pose, "kept": 1.0}  # the curve says which point predicts
        return pose

    def state(self) -> dict:
        return {"config": self.config.as_dict(), "step": self.step, "dataset": self.dataset,
                "model": self.model.state_dict(), "optim": self.opt.state_dict(),
                "sched": self.sched.state_dict(), "rng": rng_state(self.gen),
                "history": self.history, "best": self.best}

    def _restore(self, ck: dict) -> None:
        load_module(self.model, ck["model"], "the DPC model", ck["path"])
        self.opt.load_state_dict(ck["optim"])
        self.sched.load_state_dict(ck["sched"])
        restore_rng(self.gen, ck["rng"])
        self.step = int(ck["step"])
        self.history = list(ck["history"])
        self.best = ck.get("best")

    def save(self) -> Path:
        path = self.run_dir / "checkpoints" / "last.pt"
        save_checkpoint(path, self.state())
        atomic_write_jsonl(self.run_dir / "metrics.jsonl", self.history)
        if any(h.get("kind") == "val_pose" for h in self.history):
            from aist_plugins.dpc.plots import learning_curves

            atomic_write_bytes(self.run_dir / "learning_curves.png",
                               learning_curves(self.history, self.output.final.name))
        return path

    def run(self) -> Generator[TrainProgress, None, Path]:
        c = self.config
        self.run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_json(self.run_dir / "config.json", {
            "config": c.as_dict(), "dataset": self.dataset, "device": str(self.device),
            "amp": str(self.amp_dtype), **cpu_kernels()})
        if c.pose_eval_every and self.step == 0:  # the untrained model: where curves start
            pose = self.evaluate_pose()
            self.history.append({"kind": "val_pose", "step": 0, **pose})
            yield TrainProgress(0, c.steps, {}, "eval", pose)
        periodic = [Every(c.val_every, self.validate, "val")]
        if c.pose_eval_every:
            periodic.append(Every(c.pose_eval_every, self.evaluate_and_keep, "val_pose"))
        return (yield from training_loop(
            self, total=c.steps, log_every=c.log_every, periodic=periodic,
            checkpoint_every=c.checkpoint_every, save=self.save))
