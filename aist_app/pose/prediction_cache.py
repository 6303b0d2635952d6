"""Predictions of a pose run on a test set, kept on disk so that looking at them again
(the desktop app's Compare page) costs a file read, not a forward pass.

One folder per (run, test set) under the user's cache directory, one ``.npz`` per object
(its views' points, student quaternions and predicted silhouettes), each written
atomically; ``key.json`` holds the checkpoint's and the test set's SHA-256, and a folder
whose key no longer matches (the run trained on, the set re-rendered) is emptied before use.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Generator, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from aist_app.common.checkpoints import LAST
from aist_app.common.io_utils import atomic_write, atomic_write_json

FORMAT = 1


def cache_root() -> Path:
    """``$AIST_CACHE_DIR``, else ``$XDG_CACHE_HOME/aist``, else ``~/.cache/aist``."""
    if os.environ.get("AIST_CACHE_DIR"):
        return Path(os.environ["AIST_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "aist"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@dataclass
class CachedPrediction:
    points: np.ndarray  # (N, 3) float32, model frame
    quaternion: np.ndarray  # (4,) student pose
    proj: np.ndarray  # (G, G) float32 in [0, 1], the predicted silhouette


class PredictionCache:
    """``run``: a pose run folder or checkpoint file; ``test_set``: the dataset folder the
    predictions are of; ``checkpoint``: the file the predictions come from (its
    predictor's ``checkpoint``; default: a dpc run's ``checkpoints/last.pt``)."""

    def __init__(self, run: str | Path, test_set: str | Path, *,
                 root: str | Path | None = None, checkpoint: str | Path | None = None
                 ) -> None:
        run, test_set = Path(run).resolve(), Path(test_set).resolve()
        if checkpoint is not None:
            self.checkpoint = Path(checkpoint).resolve()
        else:
            self.checkpoint = run / "checkpoints" / LAST if run.is_dir() else run
        if not self.checkpoint.is_file():
            raise FileNotFoundError(f"{self.checkpoint}: no pose-model checkpoint here")
        name = hashlib.sha1(f"{run}\n{test_set}".encode()).hexdigest()[:20]
        self.folder = Path(root or cache_root()) / "predictions" / name
        self.key = {"format": FORMAT, "run": str(run), "test_set": str(test_set),
                    "checkpoint": str(self.checkpoint),
                    "checkpoint_sha256": _sha256(self.checkpoint),
                    "dataset_sha256": _sha256(test_set / "dataset.json")}
        self._objects: dict[str, dict[str, CachedPrediction]] = {}
        self._validate()

    def _validate(self) -> None:
        """Empty the folder when it was written for another checkpoint or test set."""
        try:
            stored = json.loads((self.folder / "key.json").read_text())
        except (OSError, ValueError):
            stored = None
        if stored != self.key:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder.mkdir(parents=True, exist_ok=True)
            atomic_write_json(self.folder / "key.json", self.key)

    def _path(self, oid: str) -> Path:
        return self.folder / f"{hashlib.sha1(oid.encode()).hexdigest()[:20]}.npz"

    def has(self, oid: str) -> bool:
        return oid in self._objects or self._path(oid).is_file()

    def get(self, oid: str, file: str) -> CachedPrediction | None:
        """The cached prediction of one view, or None."""
        if oid not in self._objects:
            p = self._path(oid)
            if not p.is_file():
                return None
            try:
                with np.load(p) as z:
                    files = [str(f) for f in z["files"]]
                    self._objects[oid] = {
                        f: CachedPrediction(z["points"][i],
                                            z["quaternion"][i],
                                            z["proj"][i])
                        for i, f in enumerate(files)}
            except (OSError, ValueError, KeyError):  # a damaged file: computed again
                p.unlink(missing_ok=True)
                return None
        return self._objects[oid].get(file)

    def put(self, oid: str, preds: list) -> None:
        """Store one object's :class:`~aist_app.pose.evaluate.Prediction` s (with ``proj``)."""
        arrays = {"files": np.array([p.file for p in preds]),
                  "points": np.stack([p.points for p in preds]).astype(np.float32),
                  "quaternion": np.stack([p.quaternion for p in preds]).astype(np.float32),
                  "proj": np.stack([p.proj for p in preds]).astype(np.float32)}
        atomic_write(self._path(oid), lambda f: np.savez(f, **arrays))
        self._objects.pop(oid, None)

    def fill(self, evaluator, data, views: Iterable[tuple[str, str]]
             ) -> Generator[object, None, int]:
        """Predict every object of ``views`` not cached yet, whole objects at a time in
        batches of at least the evaluator's batch of views (a real set has one view per
        object); a progress event per batch. Returns how many objects were computed."""
        from aist_app.api.progress import ItemProgress

        by_object: dict[str, list[str]] = {}
        for oid, f in views:
            by_object.setdefault(oid, []).append(f)
        todo = [oid for oid in by_object if not self.has(oid)]
        done, group = 0, []
        for k, oid in enumerate(todo):
            group.append(oid)
            if sum(len(by_object[o]) for o in group) < evaluator.batch and k < len(todo) - 1:
                continue
            preds = evaluator.predict(data, render=True,
                                      views=[(o, f) for o in group for f in by_object[o]])
            for o in group:
                self.put(o, [p for p in preds if p.oid == o])
            done += len(group)
            yield ItemProgress(done, len(todo), group[-1], "predicted")
            group = []
        return len(todo)
