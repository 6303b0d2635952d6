"""Training the DPC model with full-state checkpoints (models, optimizer, RNG, step).

:class:`PoseTrainer.run` is a generator of :class:`~aist_app.stylize.train.TrainProgress`,
like the stylizer's. Checkpoints (``RUN/checkpoints/last.pt``) are atomic and load with
``weights_only=True``.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Generator
from pathlib import Path

import numpy as np
import torch

from aist_app import __version__
from aist_app.io_utils import atomic_write_bytes, atomic_write_json
from aist_app.pose.config import PoseConfig
from aist_app.pose.data import PoseData, images_and_masks
from aist_app.pose.loss import dpc_loss
from aist_app.pose.model import dpc_model
from aist_app.segment.base import resolve_device
from aist_app.stylize.train import TrainProgress

FORMAT = "aist-pose"


class PoseCheckpointError(ValueError):
    pass


def save_checkpoint(path: Path, state: dict) -> None:
    import os
    import tempfile

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        torch.save({"format": FORMAT, "aist_version": __version__, **state}, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_checkpoint(run_or_checkpoint: str | Path) -> dict:
    p = Path(run_or_checkpoint)
    if p.is_dir():
        p = p / "checkpoints" / "last.pt"
    if not p.is_file():
        raise PoseCheckpointError(f"{p}: no pose-model checkpoint here")
    try:
        ck = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:
        raise PoseCheckpointError(f"{p}: unreadable checkpoint ({type(e).__name__}: {e})"
                                  ) from None
    if not isinstance(ck, dict) or ck.get("format") != FORMAT:
        raise PoseCheckpointError(f"{p}: not an AIST pose-model checkpoint")
    ck["path"] = str(p)
    return ck


def load_model(ck: dict, device) -> torch.nn.Module:
    config = PoseConfig.from_dict(ck["config"])
    model = dpc_model(config=config)
    own = model.state_dict()
    state = ck["model"]
    bad = [k for k in own if k not in state or tuple(state[k].shape) != tuple(own[k].shape)]
    if bad or set(state) - set(own):
        raise PoseCheckpointError(f"{ck['path']}: weights do not match the DPC architecture of "
                                  f"its config (e.g. {bad[:2]})")
    model.load_state_dict(state)
    return model.to(device).eval()


class PoseTrainer:
    def __init__(self, config: PoseConfig, dataset: str | Path, run_dir: str | Path, *,
                 resume: bool = False) -> None:
        self.config = config
        self.dataset = str(dataset)
        self.run_dir = Path(run_dir)
        self.device = torch.device(resolve_device(config.device))
        self.train_data = PoseData(dataset, "train")
        try:
            self.val_data = PoseData(dataset, "val")
        except ValueError:
            self.val_data = self.train_data
        self.gen = torch.Generator().manual_seed(config.seed)
        torch.manual_seed(config.seed)
        self.model = dpc_model(config=config).to(self.device)
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=config.lr,
                                     weight_decay=config.weight_decay)
        switch = int(config.lr_step_frac * config.steps)
        ratio = config.lr_2 / config.lr

        self.sched = torch.optim.lr_scheduler.LambdaLR(
            self.opt, lambda s: 1.0 if s < switch else ratio)
        self.amp_dtype = None
        if self.device.type == "cuda" and config.amp:
            self.amp_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else None
        self.step = 0
        self.history: list[dict] = []
        if resume:
            self._restore(load_checkpoint(self.run_dir))

    def _batch(self, data: PoseData, generator: torch.Generator):
        c = self.config
        oids, files = data.sample(c.batch_objects, c.views_per_object, generator)
        rgba = torch.cat([data.load(o, f) for o, f in zip(oids, files, strict=True)])
        images, masks = images_and_masks(rgba, c.image_size, c.vox_size)
        return (images.to(self.device),
                masks.view(len(oids), c.views_per_object, c.vox_size, c.vox_size)
                .to(self.device))

    def train_step(self) -> dict[str, float]:
        images, masks = self._batch(self.train_data, self.gen)
        with torch.autocast(self.device.type, dtype=self.amp_dtype or torch.float32,
                            enabled=self.amp_dtype is not None):
            out = self.model(images)
        out = {k: v.float() for k, v in out.items()}
        losses = dpc_loss(out, masks, self.config, self.step, self.gen)
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
            out = {k: v.float() for k, v in self.model(images).items()}
            losses = dpc_loss(out, masks, self.config, self.step, g)
        finally:
            self.model.train()
        return {"val_projection": float(losses["projection"]),
                "val_student": float(losses["student"])}

    def state(self) -> dict:
        rng = {"generator": self.gen.get_state(), "torch": torch.get_rng_state()}
        if torch.cuda.is_available():
            rng["cuda"] = torch.cuda.get_rng_state_all()
        return {"config": self.config.as_dict(), "step": self.step, "dataset": self.dataset,
                "model": self.model.state_dict(), "optim": self.opt.state_dict(),
                "sched": self.sched.state_dict(), "rng": rng, "history": self.history}

    def _restore(self, ck: dict) -> None:
        own = self.model.state_dict()
        if set(own) != set(ck["model"]) or any(
                tuple(own[k].shape) != tuple(ck["model"][k].shape) for k in own):
            raise PoseCheckpointError(f"{ck['path']}: weights do not match this architecture")
        self.model.load_state_dict(ck["model"])
        self.opt.load_state_dict(ck["optim"])
        self.sched.load_state_dict(ck["sched"])
        self.gen.set_state(ck["rng"]["generator"])
        torch.set_rng_state(ck["rng"]["torch"])
        if "cuda" in ck["rng"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(ck["rng"]["cuda"])
        self.step = int(ck["step"])
        self.history = list(ck["history"])

    def save(self) -> Path:
        path = self.run_dir / "checkpoints" / "last.pt"
        save_checkpoint(path, self.state())
        lines = "".join(json.dumps(h) + "\n" for h in self.history)
        atomic_write_bytes(self.run_dir / "metrics.jsonl", lines.encode())
        return path

    def run(self) -> Generator[TrainProgress, None, Path]:
        c = self.config
        self.run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_json(self.run_dir / "config.json", {
            "config": c.as_dict(), "dataset": self.dataset, "device": str(self.device)})
        last = None
        window: list[dict] = []
        while self.step < c.steps:
            t0 = time.perf_counter()
            losses = self.train_step()
            losses["seconds"] = time.perf_counter() - t0
            window.append(losses)
            if self.step % c.log_every == 0 or self.step == c.steps:
                self.history.append({"kind": "train", "step": self.step, **{
                    k: float(np.mean([w[k] for w in window])) for k in window[0]}})
                window = []
            yield TrainProgress(self.step, c.steps, losses)
            if self.step % c.val_every == 0 or self.step == c.steps:
                val = self.validate()
                self.history.append({"kind": "val", "step": self.step, **val})
                yield TrainProgress(self.step, c.steps, losses, "eval", val)
            if self.step % c.checkpoint_every == 0 or self.step == c.steps:
                last = self.save()
                yield TrainProgress(self.step, c.steps, losses, "checkpoint",
                                    {"path": str(last)})
        if last is None:
            last = self.save()
        yield TrainProgress(self.step, c.steps, {}, "done", {"path": str(last)})
        return last
