"""Write datasets of the contract: objects appear atomically, complete or not at all."""

from __future__ import annotations

import io
import shutil
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from aist_app import __version__
from aist_app.common.images import color_correct, encode_png
from aist_app.common.io_utils import atomic_write_json, make_temp_dir, publish_dir
from aist_app.common.outputs import OutputFolder, OutputRecord
from aist_app.dataset.contract import FORMAT, KINDS, VERSION
from aist_app.dataset.splits import make_splits
from aist_app.scene.cameras import Camera


class ObjectWriter:
    """Collects one object's files in a hidden temp folder; ``commit()`` publishes it."""

    def __init__(self, dataset: DatasetWriter, oid: str, pool: ThreadPoolExecutor) -> None:
        self.dataset = dataset
        self.oid = oid
        self._pool = pool
        self.tmp = make_temp_dir(f".tmp-{oid}-", dataset.objects_dir)
        self._views: list[dict] = []
        self._pending: list[Future] = []
        self._has_points = False

    def add_view(
        self, rgba: np.ndarray, camera: Camera | None = None, *, depth: np.ndarray | None = None,
        extra: dict[str, Any] | None = None, name: str | None = None,
    ) -> str:
        """Add the next view (H, W, 4) uint8; returns its file name. PNG encoding runs in a
        background thread so it overlaps with rendering the next view."""
        h, w = self.dataset.image_size
        if rgba.shape != (h, w, 4) or rgba.dtype != np.uint8:
            raise ValueError(f"view must be ({h}, {w}, 4) uint8, got {rgba.shape} {rgba.dtype}")
        n = len(self._views)
        name = name or f"view_{n:03d}.png"
        entry: dict[str, Any] = camera.to_json(name) if camera is not None else {"file": name}
        rgba = color_correct(rgba)
        level = self.dataset.png_compress_level
        self._pending.append(self._pool.submit(self._write_png, self.tmp / name, rgba, level))
        if depth is not None:
            dname = f"depth_{n:03d}.png"
            scale = 1e-4  # normalized units per 16-bit step: 0..6.5535
            d16 = np.clip(np.round(np.nan_to_num(depth) / scale), 0, 65535).astype(np.uint16)
            self._pending.append(self._pool.submit(self._write_png, self.tmp / dname, d16, level))
            entry["depth_file"] = dname
            entry["depth_scale"] = scale
        if extra:
            entry.update(extra)
        self._views.append(entry)
        return name

    @staticmethod
    def _write_png(path: Path, arr: np.ndarray, level: int) -> None:
        path.write_bytes(encode_png(arr, compress_level=level))

    def set_points(self, points: np.ndarray, normals: np.ndarray) -> None:
        pts = np.ascontiguousarray(points, dtype=np.float32)
        nrm = np.ascontiguousarray(normals, dtype=np.float32)
        if pts.ndim != 2 or pts.shape[1] != 3 or nrm.shape != pts.shape:
            raise ValueError(f"points and normals must be (N, 3), got {pts.shape}, {nrm.shape}")
        buf = io.BytesIO()
        np.savez(buf, points=pts, normals=nrm)
        (self.tmp / "points.npz").write_bytes(buf.getvalue())
        self._has_points = True

    def copy_file(self, src: Path, name: str | None = None) -> None:
        """Copy a file byte for byte (stylized datasets keep cameras and points identical)."""
        shutil.copyfile(src, self.tmp / (name or Path(src).name))

    def set_provenance(self, provenance: dict[str, Any]) -> None:
        atomic_write_json(self.tmp / "provenance.json", provenance)

    def commit(self) -> Path:
        for f in self._pending:
            f.result()
        kind = self.dataset.kind
        if kind != "real" and self._views and "world_to_camera" in self._views[0]:
            atomic_write_json(self.tmp / "cameras.json", {"views": self._views})
            if not self._has_points and not (self.tmp / "points.npz").exists():
                raise ValueError(f"object {self.oid}: {kind} objects need points")
        final = self.dataset.objects_dir / self.oid
        publish_dir(self.tmp, final)
        return final

    def abort(self) -> None:
        for f in self._pending:
            f.cancel()
        for f in self._pending:
            if not f.cancelled():
                try:
                    f.result()
                except Exception:
                    pass
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self) -> ObjectWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort()
            return
        try:
            self.commit()
        except BaseException:  # a view that failed to write (a full disk): no temp left
            self.abort()
            raise


class DatasetWriter:
    """Writes a dataset folder. Objects already complete on disk are left alone, so an
    interrupted run resumes; ``finalize()`` writes ``dataset.json`` last. Several writers (farm
    workers) may share one folder when created with ``clean_stale=False``."""

    def __init__(
        self, root: str | Path, *, kind: str, image_size: tuple[int, int], up_axis: str = "y",
        source: dict[str, Any] | None = None, png_compress_level: int = 3,
        clean_stale: bool = True, record: OutputRecord | None = None, overwrite: bool = False,
        lock: bool = True,
    ) -> None:
        """``record`` says what makes this dataset (the output-folder contract: a folder made
        by something else is refused before anything is written; ``overwrite`` replaces it
        when :meth:`finalize` completes)."""
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}")
        self.output = None
        if record is not None:
            # Farm workers share a job's folder by design and pass lock=False (the local
            # pool's parent holds the lock for the whole job).
            self.output = OutputFolder(root, record, overwrite=overwrite, what="dataset",
                                       lock=lock)
            root = self.output.path
        self.root = Path(root)
        self.kind = kind
        self.image_size = (int(image_size[0]), int(image_size[1]))
        self.up_axis = up_axis
        self.source = dict(source or {})
        self.png_compress_level = png_compress_level
        self.objects_dir = self.root / "objects"
        self.objects_dir.mkdir(parents=True, exist_ok=True)
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="aist-png")
        if clean_stale:  # farm workers share the folder: another worker's temp is not stale
            self.clean_stale_temp()

    def clean_stale_temp(self) -> None:
        """Remove leftovers of interrupted writes (only when no other writer is running)."""
        for p in self.objects_dir.glob(".tmp-*"):
            shutil.rmtree(p, ignore_errors=True)
        for p in self.objects_dir.glob(".*.old-*"):
            shutil.rmtree(p, ignore_errors=True)

    def is_complete(self, oid: str) -> bool:
        return (self.objects_dir / oid).is_dir()

    def complete_ids(self) -> list[str]:
        return sorted(p.name for p in self.objects_dir.iterdir()
                      if p.is_dir() and not p.name.startswith("."))

    def object(self, oid: str) -> ObjectWriter:
        if not oid or "/" in oid or oid.startswith("."):
            raise ValueError(f"invalid object id {oid!r}")
        return ObjectWriter(self, oid, self._pool)

    def finalize(
        self, *, splits: dict[str, list[str]] | None = None, seed: int = 0,
        fractions: dict[str, float] | None = None, source: dict[str, Any] | None = None,
        publish: bool = True,
    ) -> Path:
        """Write ``dataset.json`` listing every complete object; returns its path. A
        replacement is swapped into place unless ``publish`` is False (an incomplete one
        stays in its staging folder, the old output untouched)."""
        ids = self.complete_ids()
        if splits is None:
            splits = make_splits(ids, seed=seed, fractions=fractions)
        meta_source = {**self.source, **(source or {}), "aist_version": __version__}
        meta = {
            "format": FORMAT,
            "version": VERSION,
            "kind": self.kind,
            "image_size": list(self.image_size),
            "up_axis": self.up_axis,
            "splits": {k: list(splits.get(k, [])) for k in ("train", "val", "test")},
            "source": meta_source,
        }
        path = self.root / "dataset.json"
        atomic_write_json(path, meta)
        if self.output is not None and self.output.replacing and publish:
            self.close()
            self.root = self.output.publish()
            self.objects_dir = self.root / "objects"
            path = self.root / "dataset.json"
        return path

    def discard_if_unused(self) -> bool:
        """:meth:`~aist_app.common.outputs.OutputFolder.discard_if_unused` of its folder
        (call after :meth:`close`, on a failure)."""
        return self.output is not None and self.output.discard_if_unused()

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        if self.output is not None:
            self.output.release()

    def __enter__(self) -> DatasetWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

