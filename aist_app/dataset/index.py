"""A flat, filterable index of every view of a dataset (what a browser lists), Qt-free.

Built from the metadata only (``dataset.json``, ``cameras.json``, ``provenance.json``): a
dataset of 100,000 views is indexed without opening an image.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from aist_app.dataset.reader import Dataset


@dataclass(frozen=True)
class ViewRecord:
    object_id: str
    file: str
    split: str
    azimuth: float | None = None
    elevation: float | None = None
    reason: str | None = None  # real data: a rejected candidate's reason
    location: str | None = None  # a file outside objects/ (rejected candidates' cut-outs)

    def path(self, root: Path) -> Path:
        if self.location:
            return Path(self.location)
        return root / "objects" / self.object_id / self.file


@dataclass
class ViewFilter:
    split: str | None = None  # train | val | test
    text: str = ""  # substring of the object id
    azimuth: tuple[float, float] | None = None
    elevation: tuple[float, float] | None = None

    def __call__(self, r: ViewRecord) -> bool:
        if self.split and r.split != self.split:
            return False
        if self.text and self.text.lower() not in r.object_id.lower():
            return False
        for rng, v in ((self.azimuth, r.azimuth), (self.elevation, r.elevation)):
            if rng is not None and (v is None or not rng[0] <= v <= rng[1]):
                return False
        return True


def check_view_name(name: object, where: Path) -> None:
    """A view's file name as ``cameras.json`` gives it: a plain PNG file name."""
    from aist_app.common.paths import UnsafePath, check_name
    from aist_app.dataset.contract import DatasetError

    try:
        check_name(name, "view file name", where)
    except UnsafePath as e:
        raise DatasetError(where, str(e).split(": ", 1)[-1]) from None


class DatasetIndex:
    def __init__(self, ds: Dataset, records: list[ViewRecord]) -> None:
        self.ds = ds
        self.records = records

    @property
    def root(self) -> Path:
        return self.ds.root

    @classmethod
    def build(cls, root: str | Path) -> DatasetIndex:
        """Index a dataset (validated at the metadata level; errors name the file)."""
        ds = Dataset.open(root, check="meta")
        records: list[ViewRecord] = []
        for split in ("train", "val", "test"):
            for oid in ds.object_ids(split):
                if ds.kind == "real":
                    records += [ViewRecord(oid, f, split) for f in ds.view_files(oid)]
                    continue
                # File names checked as the contract does (a view is loaded through
                # Dataset.file, which also keeps links inside the set).
                path = ds.object_dir(oid) / "cameras.json"
                for v in json.loads(path.read_text())["views"]:
                    check_view_name(v.get("file"), path)
                    records.append(ViewRecord(oid, v["file"], split, v.get("azimuth_deg"),
                                              v.get("elevation_deg")))
        return cls(ds, records)

    def filter(self, f: ViewFilter) -> list[ViewRecord]:
        return [r for r in self.records if f(r)]

    def rejection_counts(self) -> dict[str, int]:
        """Real data: rejected candidates per reason (from the segmenter's summary)."""
        rej = self.ds.source.get("rejections", {})
        return {**rej.get("candidates", {}), **rej.get("photos", {})}

    def rejected(self, reason: str) -> list[ViewRecord]:
        """Real data: cut-outs of the candidates rejected for ``reason`` (report/rejected)."""
        folder = self.root / "report" / "rejected" / reason
        if not folder.is_dir():
            return []
        return [ViewRecord(p.stem, p.name, "rejected", reason=reason, location=str(p))
                for p in sorted(folder.glob("*.png"))]

    def source_root(self) -> Path | None:
        """Stylized data: the dataset it was made from, wherever the app was started (the
        output record's absolute path first; ``dataset.json``'s ``input`` as written, which
        is relative to where the command ran, last)."""
        if self.ds.kind != "stylized":
            return None
        from aist_app.common.outputs import OutputConflict, read_record

        candidates = []
        try:
            record = read_record(self.root) or {}
        except OutputConflict:
            record = {}
        recorded = (record.get("inputs", {}).get("input") or {})
        if isinstance(recorded, dict) and recorded.get("path"):
            candidates.append(Path(recorded["path"]))
        src = self.ds.source.get("input")
        if src:
            candidates.append(Path(src))
        return next((c for c in candidates if (c / "dataset.json").is_file()), None)

    def source_view(self, r: ViewRecord) -> Path | None:
        """Stylized data: the input view this one was made from."""
        src = self.source_root()
        if src is None:
            return None
        p = r.path(src)
        return p if p.is_file() else None
