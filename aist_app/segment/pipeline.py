"""Real photos -> a ``real`` dataset of normalized RGBA segmentations (SPEC §2).

``segment_photos`` is a generator like the renderer's: it yields :class:`ItemProgress` per photo
and returns a :class:`SegmentSummary`. Every plugin's instances go through the same filters
(:mod:`.filters`) and normalization (:mod:`.normalize`). Each photo's outcome is stored in
``OUT/.segment/<photo>.json`` after its segmentations are written, so an interrupted run
resumes where it stopped and the rejection summary still counts every photo.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import time
from collections import Counter
from collections.abc import Generator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from aist_app.api.progress import ItemProgress
from aist_app.common.io_utils import atomic_write_json
from aist_app.common.outputs import OutputRecord, content_config, folder_identity
from aist_app.dataset.contract import dataset_identity
from aist_app.dataset.writer import DatasetWriter
from aist_app.segment.config import SegmentConfig  # noqa: F401  (re-exported)
from aist_app.segment.filters import (
    REASONS,
    fill_ratio,
    first_rejection,
    is_grayscale,
)
from aist_app.segment.normalize import normalize
from aist_app.segment.photos import PhotoError, discover_photos, load_photo
from aist_app.segment.ratios import RatioModel

PHOTO_REASONS = ("unreadable", "too-small", "too-large")


@dataclass
class SegmentSummary:
    out: Path
    photos: int = 0
    candidates: int = 0
    accepted: list[str] = field(default_factory=list)
    rejected: Counter = field(default_factory=Counter)  # candidate reasons
    photos_rejected: Counter = field(default_factory=Counter)
    resumed: int = 0
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)
    ratios_before: list[float] = field(default_factory=list)
    ratios_after: list[float] = field(default_factory=list)
    ratio_model: RatioModel | None = None
    ks: dict[str, float] = field(default_factory=dict)

    def rejections(self) -> dict[str, Any]:
        return {"candidates": {r: int(self.rejected.get(r, 0)) for r in REASONS},
                "photos": {r: int(self.photos_rejected.get(r, 0)) for r in PHOTO_REASONS}}

    def as_dict(self) -> dict[str, Any]:
        return {"photos": self.photos, "candidates": self.candidates,
                "accepted": len(self.accepted), "rejections": self.rejections(),
                "seconds": round(self.seconds, 3), "ks": self.ks}


def photo_key(path: Path, root: Path) -> str:
    """A file-name-safe id for a photo, unique within the run."""
    rel = path.relative_to(root) if root.is_dir() else Path(path.name)
    stem = re.sub(r"[^A-Za-z0-9_-]+", "_", str(rel.with_suffix(""))).strip("_") or "photo"
    return stem


def _photo_splits(by_photo: dict[str, list[str]], seed: int, test_fraction: float
                  ) -> dict[str, list[str]]:
    """Seeded train/test split by source photo (all instances of a photo together)."""
    def key(name: str) -> str:
        return hashlib.sha256(f"{seed}:{name}".encode()).hexdigest()

    photos = sorted((p for p, ids in by_photo.items() if ids), key=key)
    n_test = int(round(len(photos) * test_fraction))
    if len(photos) >= 2 and test_fraction > 0:
        n_test = max(1, min(n_test, len(photos) - 1))
    test = set(photos[:n_test])
    splits: dict[str, list[str]] = {"train": [], "val": [], "test": []}
    for p in photos:
        splits["test" if p in test else "train"].extend(by_photo[p])
    return {k: sorted(v) for k, v in splits.items()}


def segment_photos(
    photos: str | Path, out: str | Path, synthetic: str | Path, config: SegmentConfig,
    segmenter_cls, *, overwrite: bool = False,
) -> Generator[ItemProgress, None, SegmentSummary]:
    """Segment every photo into a real dataset at ``out`` (resumes a matching folder; refuses
    one holding another output unless ``overwrite``)."""
    start = time.perf_counter()
    config.validate()
    root = Path(photos)
    out = Path(out)
    paths = discover_photos(root)
    if not paths:
        raise ValueError(f"{root}: no photos found (JPEG or PNG files); nothing to segment")
    ratio_model = RatioModel.fit(synthetic, seed=config.seed)
    size = ratio_model.image_size
    summary = SegmentSummary(out=out, photos=len(paths), ratio_model=ratio_model)
    t = summary.timings
    for k in ("load", "network", "filters", "normalize", "write"):
        t[k] = 0.0
    synthetic_id = dataset_identity(synthetic)  # RatioModel.fit checked its kind
    record = OutputRecord("segment", config.segmenter,
                          content_config(config.as_dict(), ("device", "batch_size")),
                          {"photos": folder_identity(root),
                           "synthetic": synthetic_id})
    # The network (and its weights) loads before the folder is touched: missing weights leave
    # nothing behind.
    segmenter = segmenter_cls(config.options())
    created = not out.exists()
    try:
        writer = DatasetWriter(out, kind="real", image_size=size, source={}, record=record,
                               overwrite=overwrite)
    except BaseException:
        segmenter.close()
        raise
    fresh = created or writer.output.replacing  # a folder this run made (or its staging)
    discard = False
    state_dir = writer.root / ".segment"
    state_dir.mkdir(parents=True, exist_ok=True)
    by_photo: dict[str, list[str]] = {}
    filt = config.filters()
    try:
        todo: list[tuple[Path, str]] = []
        for path in paths:
            key = photo_key(path, root)
            state = _read_state(state_dir / f"{key}.json")
            if state is not None and all(writer.is_complete(o) for o in state["accepted"]):
                _count(summary, state)
                summary.resumed += 1
                by_photo[key] = state["accepted"]
                yield ItemProgress(len(by_photo), len(paths), key, "skipped", "already done")
            else:
                todo.append((path, key))
        bs = max(1, config.batch_size)
        for b in range(0, len(todo), bs):
            batch, images = [], []
            for path, key in todo[b:b + bs]:
                t0 = time.perf_counter()
                try:
                    img = load_photo(path, max_megapixels=config.max_megapixels,
                                     min_side=config.min_side)
                except PhotoError as e:
                    state = {"photo": str(path), "accepted": [], "rejected": {},
                             "photo_rejected": e.category, "reason": e.message,
                             "candidates": 0, "ratios_before": [], "ratios_after": []}
                    atomic_write_json(state_dir / f"{key}.json", state)
                    _count(summary, state)
                    by_photo[key] = []
                    t["load"] += time.perf_counter() - t0
                    yield ItemProgress(len(by_photo), len(paths), key, "failed", str(e))
                    continue
                t["load"] += time.perf_counter() - t0
                batch.append((path, key))
                images.append(img)
            if not images:
                continue
            t0 = time.perf_counter()
            found = segmenter.segment(images)
            t["network"] += time.perf_counter() - t0
            for (path, key), img, instances in zip(batch, images, found, strict=True):
                state = _process_photo(path, key, img, instances, filt, ratio_model, size,
                                       writer, config, segmenter, t)
                atomic_write_json(state_dir / f"{key}.json", state)
                _count(summary, state)
                by_photo[key] = state["accepted"]
                yield ItemProgress(len(by_photo), len(paths), key,
                               "rendered" if state["accepted"] else "rejected",
                               f"{len(state['accepted'])} of {state['candidates']} accepted")
        if not summary.accepted:
            raise NoCarsAccepted(root, summary)
        summary.ks = ratio_model.ks(summary.ratios_before, summary.ratios_after)
        summary.seconds = time.perf_counter() - start
        splits = _photo_splits(by_photo, config.seed, config.test_fraction)
        writer.source = {
            "stage": "segment",
            "plugin": config.segmenter,
            "model": segmenter.describe(),
            "seed": config.seed,
            "config": config.as_dict(),
            "photos": str(root),
            "synthetic": str(synthetic),
            "ratio_model": ratio_model.as_dict(),
            "rejections": summary.rejections(),
            "ks": summary.ks,
            "summary": summary.as_dict(),
        }
        writer.finalize(splits=splits)
        from aist_app.segment.report import write_report

        write_report(writer.root, summary)
    except NoCarsAccepted:
        discard = fresh  # no dataset of 0 objects: the folder this run made goes again
        raise
    finally:
        writer.close()
        segmenter.close()
        if discard:
            shutil.rmtree(writer.root, ignore_errors=True)
    return summary


class NoCarsAccepted(ValueError):
    """No photo gave a car that passed the filters: there is no dataset to write."""

    def __init__(self, photos: Path, summary: SegmentSummary) -> None:
        why = {**summary.rejections()["photos"], **summary.rejections()["candidates"]}
        why = ", ".join(f"{k} {v}" for k, v in why.items() if v) or "no candidates found"
        super().__init__(
            f"{photos}: 0 of {summary.photos} photos gave an accepted car ({why}); no dataset "
            "was written. Loosen the filters (--min-score, --min-side, --min-fill, --classes) or "
            "give other photos.")


def _save_rejected(path: Path, img: np.ndarray, mask: np.ndarray, record: dict,
                   size: int = 128) -> None:
    """A small cut-out of a rejected candidate, so its reason can be inspected (the GUI
    lists them by reason), and beside it (``.json``) the photo, box and the figures the
    filters judged."""
    from PIL import Image

    from aist_app.common.images import encode_png
    from aist_app.common.io_utils import atomic_write_bytes
    from aist_app.segment.normalize import cutout

    if not mask.any():
        return
    rgba, _ = cutout(img, mask)
    im = Image.fromarray(rgba)
    im.thumbnail((size, size), Image.Resampling.BILINEAR)
    atomic_write_bytes(path, encode_png(np.asarray(im), compress_level=1))
    atomic_write_bytes(path.with_suffix(".json"), json.dumps(record, indent=2).encode())


def _read_state(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def _count(summary: SegmentSummary, state: dict) -> None:
    summary.candidates += state["candidates"]
    summary.accepted.extend(state["accepted"])
    summary.rejected.update(state["rejected"])
    if state.get("photo_rejected"):
        summary.photos_rejected[state["photo_rejected"]] += 1
    summary.ratios_before.extend(state["ratios_before"])
    summary.ratios_after.extend(state["ratios_after"])


def _process_photo(path, key, img, instances, filt, ratio_model, size, writer, config,
                   segmenter, t) -> dict:
    t0 = time.perf_counter()
    gray = is_grayscale(img, filt.gray_tolerance, filt.gray_fraction)
    verdicts = [first_rejection(i.label, i.score, i.box, i.mask, gray, filt)
                for i in instances]
    t["filters"] += time.perf_counter() - t0
    state: dict[str, Any] = {"photo": str(path), "accepted": [], "rejected": {},
                             "candidates": len(instances), "ratios_before": [],
                             "ratios_after": []}
    rejected: Counter = Counter(v for v in verdicts if v is not None)
    state["rejected"] = dict(rejected)
    # One generator per photo, from the run seed and the photo: the same photo gets the same
    # padding and ratio whatever else is in the run and in whatever order.
    rng = np.random.default_rng(np.random.SeedSequence(
        [config.seed, int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "little")]))
    for k, (inst, verdict) in enumerate(zip(instances, verdicts, strict=True)):
        if verdict is not None:
            t0 = time.perf_counter()
            _save_rejected(writer.root / "report" / "rejected" / verdict / f"{key}_{k:02d}.png",
                           img, inst.mask, {
                               "photo": str(path), "instance": k, "label": inst.label,
                               "score": round(inst.score, 4),
                               "box": [round(v, 2) for v in inst.box],
                               "side": round(float(np.sqrt(max(0.0, (inst.box[2] - inst.box[0])
                                                               * (inst.box[3] - inst.box[1])))), 2),
                               "fill": round(fill_ratio(inst.mask, inst.box), 4),
                               "rejected_by": verdict, "filters": asdict(filt)})
            t["write"] += time.perf_counter() - t0
            continue
        t0 = time.perf_counter()
        target = ratio_model.sample(rng)
        norm = normalize(img, inst.mask, target, size, rng)
        t["normalize"] += time.perf_counter() - t0
        t0 = time.perf_counter()
        oid = f"{key}_{k:02d}"
        with writer.object(oid) as obj:
            obj.add_view(norm.rgba)
            obj.set_provenance({
                "photo": str(path), "instance": k, "label": inst.label,
                "score": round(inst.score, 4),
                "box": [round(v, 2) for v in inst.box], "crop_box": list(norm.crop_box),
                "padding": {"square": norm.square_pad, "ratio": norm.ratio_pad},
                "target_ratio": norm.target_ratio, "ratio_before": norm.ratio_before,
                "ratio_padded": norm.ratio_padded, "ratio_after": norm.ratio_after,
                "segmenter": config.segmenter, "model": segmenter.describe(),
                "seed": config.seed,
            })
        t["write"] += time.perf_counter() - t0
        state["accepted"].append(oid)
        state["ratios_before"].append(norm.ratio_before)
        state["ratios_after"].append(norm.ratio_after)
    return state
