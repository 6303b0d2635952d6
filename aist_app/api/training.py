"""The one training loop of the learned stages (the stylizer and the pose model): steps with a
loss window, periodic evaluations recorded in the run's history, full-state checkpoints,
and the run published at the end (``--overwrite`` swaps it in). A trainer supplies the
parts; the loop yields :class:`~aist_app.api.progress.TrainProgress`."""

from __future__ import annotations

import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from aist_app.api.progress import TrainProgress


@dataclass(frozen=True)
class Every:
    """Run ``fn`` every ``steps`` steps and at the last one; with ``kind``, what it returns
    goes into the history as ``{"kind": kind, "step": ..., **figures}`` and is yielded as an
    ``eval`` event."""

    steps: int
    fn: Callable[[], dict[str, Any] | None]
    kind: str | None = None


class LoopTrainer(Protocol):
    step: int
    history: list[dict]
    output: Any  # aist_app.common.outputs.OutputFolder
    run_dir: Path

    def train_step(self) -> dict[str, float]: ...


def training_loop(trainer: LoopTrainer, *, total: int, log_every: int,
                  periodic: list[Every], checkpoint_every: int, save: Callable[[], Path]
                  ) -> Generator[TrainProgress, None, Path]:
    """Train ``trainer`` from its step to ``total``; returns the published checkpoint."""
    last = None
    window: list[dict] = []
    while trainer.step < total:
        t0 = time.perf_counter()
        losses = trainer.train_step()
        losses["seconds"] = time.perf_counter() - t0
        window.append(losses)
        step = trainer.step
        if step % log_every == 0 or step == total:
            mean = {k: float(np.mean([w[k] for w in window])) for k in window[0]}
            trainer.history.append({"kind": "train", "step": step, **mean})
            window = []
        yield TrainProgress(step, total, losses)
        for task in periodic:
            if step % task.steps == 0 or step == total:
                figures = task.fn()
                if task.kind is not None and figures is not None:
                    trainer.history.append({"kind": task.kind, "step": step, **figures})
                    yield TrainProgress(step, total, losses, "eval", figures)
        if step % checkpoint_every == 0 or step == total:
            last = save()
            yield TrainProgress(step, total, losses, "checkpoint", {"path": str(last)})
    if last is None:  # resumed a finished run
        last = save()
    last = trainer.output.publish_with(last)  # --overwrite: takes the old run's place
    trainer.run_dir = trainer.output.final
    yield TrainProgress(trainer.step, total, {}, "done", {"path": str(last)})
    return last
