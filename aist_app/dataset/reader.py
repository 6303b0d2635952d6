"""Read and validate a dataset of the contract."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from aist_app.dataset.contract import (
    SPLITS,
    DatasetError,
    read_json,
    validate_cameras,
    validate_meta,
    validate_png,
    validate_points,
)


class Dataset:
    """A dataset on disk. ``Dataset.open(path)`` validates it; errors name the file."""

    def __init__(self, root: Path, meta: dict) -> None:
        self.root = Path(root)
        self.meta = meta

    # -- opening ---------------------------------------------------------------------------
    @classmethod
    def open(cls, root: str | Path, *, check: str = "full") -> Dataset:
        """Open ``root``. ``check``: ``"meta"`` (dataset.json and folders) or ``"full"``
        (every cameras.json, points.npz and view PNG header too)."""
        root = Path(root)
        if root.exists() and not root.is_dir():
            raise DatasetError(root, "is a file, not a dataset folder (a dataset is the folder "
                                     "holding dataset.json)")
        if not root.is_dir():
            raise DatasetError(root, "dataset folder does not exist")
        meta_path = root / "dataset.json"
        meta = validate_meta(read_json(meta_path), meta_path)
        ds = cls(root, meta)
        ds._check_folders()
        if check == "full":
            for oid in ds.object_ids():
                ds.check_object(oid)
        elif check != "meta":
            raise ValueError(f"check must be 'meta' or 'full', not {check!r}")
        return ds

    def _check_folders(self) -> None:
        objects = self.root / "objects"
        listed = set(self.object_ids())
        if listed and not objects.is_dir():
            raise DatasetError(objects, "folder is missing")
        on_disk = {p.name for p in objects.iterdir() if not p.name.startswith(".")} if (
            objects.is_dir()) else set()
        if missing := sorted(listed - on_disk):
            raise DatasetError(objects / missing[0], "object listed in dataset.json has no folder")
        if unlisted := sorted(on_disk - listed):
            raise DatasetError(objects / unlisted[0], "object folder is not listed in any split")

    def check_object(self, oid: str) -> None:
        """Validate every file of one object (a link leaving the dataset included)."""
        d = self.object_dir(oid)
        for p in sorted(d.iterdir()) if d.is_dir() else ():
            self.file(oid, p.name)
        if self.kind == "real":
            for name in ("cameras.json", "points.npz"):
                if (d / name).exists():
                    raise DatasetError(d / name, "real datasets have no cameras or points")
            if not (d / "provenance.json").is_file():
                raise DatasetError(d / "provenance.json", "file is missing")
            views = self.view_files(oid)
            if not views:
                raise DatasetError(d, "object has no view_*.png")
        else:
            views = [v["file"] for v in self.cameras(oid)]
            validate_points(d / "points.npz")
        for f in views:
            validate_png(d / f, self.image_size)

    # -- metadata --------------------------------------------------------------------------
    @property
    def kind(self) -> str:
        return self.meta["kind"]

    @property
    def image_size(self) -> tuple[int, int]:
        h, w = self.meta["image_size"]
        return int(h), int(w)

    @property
    def up_axis(self) -> str:
        return self.meta["up_axis"]

    @property
    def splits(self) -> dict[str, list[str]]:
        return self.meta["splits"]

    @property
    def source(self) -> dict[str, Any]:
        return self.meta["source"]

    def object_ids(self, split: str | None = None) -> list[str]:
        if split is not None:
            return list(self.splits[split])
        return sorted(oid for s in SPLITS for oid in self.splits[s])

    # -- per object ------------------------------------------------------------------------
    def object_dir(self, oid: str) -> Path:
        return self.root / "objects" / oid

    def file(self, oid: str, name: str) -> Path:
        """The path of file ``name`` of object ``oid``, checked (:mod:`aist_app.common.paths`):
        a plain file name, and a path that stays inside the dataset once its links are
        followed (a link to a file outside is refused, never read into an output)."""
        from aist_app.common.paths import UnsafePath, check_name, inside

        d = self.object_dir(oid)
        try:
            check_name(name, "file name", d)
            return inside(d / name, self.root, "file", d)
        except UnsafePath as e:
            raise DatasetError(d / str(name), str(e).split(": ", 1)[-1]) from None

    def cameras(self, oid: str) -> list[dict]:
        path = self.file(oid, "cameras.json")
        return validate_cameras(read_json(path), path)

    def view_files(self, oid: str) -> list[str]:
        if self.kind == "real":
            return sorted(p.name for p in self.object_dir(oid).glob("view_*.png"))
        return [v["file"] for v in self.cameras(oid)]

    def points(self, oid: str) -> tuple[np.ndarray, np.ndarray]:
        return validate_points(self.file(oid, "points.npz"))

    def provenance(self, oid: str) -> dict | None:
        path = self.object_dir(oid) / "provenance.json"
        return read_json(self.file(oid, "provenance.json")) if path.exists() else None

    def load_view(self, oid: str, file: str) -> np.ndarray:
        """The view as an (H, W, 4) uint8 array."""
        from PIL import Image

        path = self.file(oid, file)
        try:
            with Image.open(path) as im:
                im.load()
                if im.mode != "RGBA":
                    raise DatasetError(path, f"views must be RGBA, got mode {im.mode}")
                return np.asarray(im)
        except DatasetError:
            raise
        except Exception as e:
            raise DatasetError(path, f"unreadable image ({type(e).__name__}: {e})") from None

    # -- summary ---------------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        """Counts and ranges for ``aist info``."""
        n_views = 0
        az: list[float] = []
        el: list[float] = []
        n_points: list[int] = []
        for oid in self.object_ids():
            if self.kind == "real":
                n_views += len(self.view_files(oid))
                continue
            views = self.cameras(oid)
            n_views += len(views)
            az += [v["azimuth_deg"] for v in views]
            el += [v["elevation_deg"] for v in views]
            with np.load(self.object_dir(oid) / "points.npz") as z:
                n_points.append(int(z["points"].shape[0]))
        out: dict[str, Any] = {
            "path": str(self.root),
            "kind": self.kind,
            "image_size": list(self.image_size),
            "up_axis": self.up_axis,
            "objects": len(self.object_ids()),
            "views": n_views,
            "splits": {s: len(self.splits[s]) for s in SPLITS},
        }
        if az:
            out["azimuth_deg"] = [round(min(az), 2), round(max(az), 2)]
            out["elevation_deg"] = [round(min(el), 2), round(max(el), 2)]
            out["points_per_object"] = [min(n_points), max(n_points)]
        src = self.source
        for key in ("stage", "plugin", "seed"):
            if key in src:
                out[key] = src[key]
        failures = src.get("failures") or []
        if failures:
            out["failed"] = len(failures)
            out["failure_reasons"] = dict(Counter(f.get("category", "error") for f in failures))
        return out
