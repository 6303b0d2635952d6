"""Render a mesh collection into a synthetic dataset, with any registered renderer.

``render_collection`` is a generator: it yields :class:`ItemProgress` after each object and
returns a :class:`RenderSummary`, so the CLI (tqdm), the GUI (worker threads) and the farm
drive the same code. Objects already complete on disk are skipped (resume after a crash);
a bad mesh is recorded with its reason and the batch goes on.
"""

from __future__ import annotations

import gc
import hashlib
import time
import traceback
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from aist_app.api.progress import ItemProgress
from aist_app.api.renderer import ViewJob
from aist_app.common.io_utils import environment_error
from aist_app.common.outputs import (
    OutputNotReplaced,
    OutputRecord,
    content_config,
    folder_identity,
)
from aist_app.dataset.splits import split_objects
from aist_app.dataset.writer import DatasetWriter
from aist_app.render.config import RenderConfig  # noqa: F401  (re-exported)
from aist_app.scene.cameras import orbit_camera
from aist_app.scene.lights import random_lights
from aist_app.scene.looks import sample_look
from aist_app.scene.meshes import MeshError, MeshItem, discover, load, sample_surface


# The same shape as the other stages' records on purpose, not one class: each record's
# field names are its stage's words in the CLI and the events (rendered,
# imported; a farm job's done/running/pending), which readers already parse.
@dataclass
class RenderSummary:
    out: Path
    rendered: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    views: int = 0
    timings: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"written": len(self.rendered), "skipped": len(self.skipped),
                "failed": len(self.failed), "views": self.views,
                "seconds": round(self.seconds, 3)}


def release_memory() -> None:
    """Collect the object just rendered and hand the freed heap back to the OS (glibc).
    Loaded meshes hold reference cycles (trimesh caches), which Python frees only at its
    rare full collections, and glibc keeps freed pages: without this, a long run's resident
    memory creeps up with the number of objects."""
    global _MALLOC_TRIM
    gc.collect()
    if _MALLOC_TRIM is None:
        # Once, after the first object: everything alive now (modules, the renderer) lives as
        # long as the process, so later collections skip it (80 ms a collection -> 2 ms).
        gc.freeze()
        try:
            import ctypes

            _MALLOC_TRIM = ctypes.CDLL("libc.so.6").malloc_trim
        except (OSError, AttributeError):
            _MALLOC_TRIM = False
    if _MALLOC_TRIM:
        _MALLOC_TRIM(0)


_MALLOC_TRIM = None


def object_seed(seed: int, object_id: str) -> np.random.SeedSequence:
    """Per-object seed: depends only on the run seed and the object id (not on order or on
    which worker renders it)."""
    h = int.from_bytes(hashlib.sha256(object_id.encode()).digest()[:8], "little")
    return np.random.SeedSequence([seed, h])


def plan_views(config: RenderConfig, object_id: str) -> tuple[list[ViewJob], np.random.Generator]:
    """The cameras and lights of one object's views, and the generator for its points."""
    # Children 0 and 1 as before looks existed: as-is renders keep their bytes.
    ss_views, ss_points, ss_look = object_seed(config.seed, object_id).spawn(3)
    rng = np.random.default_rng(ss_views)
    look = sample_look(np.random.default_rng(ss_look)) if config.look == "varied" else None
    jobs = []
    for az, el in config.sampler().sample(rng):
        cam = orbit_camera(az, el, distance=config.distance, focal_length=config.focal_length,
                           image_size=tuple(config.image_size), up_axis=config.up_axis)
        jobs.append(ViewJob(cam, random_lights(rng, config.up_axis,
                                               randomize=config.randomize_lights), look))
    return jobs, np.random.default_rng(ss_points)


def render_object(renderer, item: MeshItem, writer: DatasetWriter, config: RenderConfig,
                  timings: dict[str, float] | None = None) -> int:
    """Load, sample, render and write one object atomically; returns the view count."""
    t = timings if timings is not None else {}
    t0 = time.perf_counter()
    mesh = load(item, allow_missing_textures=config.allow_missing_textures)
    t1 = time.perf_counter()
    jobs, point_rng = plan_views(config, item.object_id)
    points, normals = sample_surface(mesh, config.points, point_rng)
    t2 = time.perf_counter()
    render_s = write_s = 0.0
    with writer.object(item.object_id) as obj:
        obj.set_points(points, normals)
        it = iter(renderer.render(mesh, jobs))
        for job in jobs:
            r0 = time.perf_counter()
            view = next(it)
            r1 = time.perf_counter()
            obj.add_view(view.rgba, job.camera, depth=view.depth,
                         extra={"lights": job.lights.as_dict(), **view.info})
            write_s += time.perf_counter() - r1
            render_s += r1 - r0
        w0 = time.perf_counter()
        provenance = {"mesh": str(item.path), "normalization": mesh.normalization_mode,
                      "normalization_matrix": mesh.normalization.tolist()}
        if mesh.warnings:
            provenance["warnings"] = mesh.warnings
        if jobs and jobs[0].look is not None:
            provenance["look"] = jobs[0].look.as_dict()
        obj.set_provenance(provenance)
    write_s += time.perf_counter() - w0  # includes waiting for background PNG encoding
    for key, val in (("load", t1 - t0), ("sample", t2 - t1), ("render", render_s),
                     ("write", write_s)):
        t[key] = t.get(key, 0.0) + val
    return len(jobs)


#: RenderConfig fields that do not change what is rendered (a resume may change them).
NOT_CONTENT = ("device", "recycle_every", "png_compress_level")


def render_record(config: RenderConfig, meshes: str | Path) -> OutputRecord:
    """What a render output folder is made of: renderer, content config, mesh collection."""
    return OutputRecord("render", config.renderer, content_config(config.as_dict(), NOT_CONTENT),
                        {"meshes": folder_identity(meshes)})


def dataset_writer(out: str | Path, config: RenderConfig, items: list[MeshItem],
                   meshes: str | Path, *, clean_stale: bool = True,
                   overwrite: bool = False, lock: bool = True) -> DatasetWriter:
    """The writer of a synthetic dataset, its provenance naming the renderer, seed, config and
    every object's source mesh; the output record refuses a folder holding anything else."""
    source = {
        "stage": "render",
        "plugin": config.renderer,
        "seed": config.seed,
        "config": config.as_dict(),
        "meshes": str(meshes),
        "objects": {it.object_id: it.as_dict() for it in items},
    }
    return DatasetWriter(out, kind="synthetic", image_size=tuple(config.image_size),
                         up_axis=config.up_axis, source=source,
                         png_compress_level=config.png_compress_level, clean_stale=clean_stale,
                         record=render_record(config, meshes), overwrite=overwrite,
                         lock=lock)


def render_collection(
    meshes: str | Path | list[MeshItem], out: str | Path, config: RenderConfig, renderer_cls,
    *, root: str | Path | None = None, overwrite: bool = False,
) -> Generator[ItemProgress, None, RenderSummary]:
    """Render every mesh into the dataset at ``out``; see the module docstring. ``meshes`` is a
    collection folder or already discovered items (then ``root`` names their folder). A folder
    holding another output is refused (:class:`~aist_app.common.outputs.OutputConflict`) unless
    ``overwrite``, which replaces it once the new dataset is complete."""
    start = time.perf_counter()
    items = discover(meshes) if not isinstance(meshes, list) else meshes
    out = Path(out)
    summary = RenderSummary(out=out)
    if isinstance(meshes, list) and root is None:
        raise ValueError("render_collection: give root= (the meshes' folder) with a list")
    label = root if root is not None else meshes
    config.validate()  # a bad option fails before the folder is touched
    if config.look != "as-is" and not renderer_cls.supports_looks:
        raise ValueError(f"--look {config.look}: the {config.renderer} renderer draws the "
                         "meshes' own materials only; use --renderer blender")
    # Open the renderer first too: a device that is not there fails before any work.
    renderer = renderer_cls(config.options())
    try:
        writer = dataset_writer(out, config, items, label, overwrite=overwrite)
    except BaseException:
        renderer.close()
        raise
    writer.source["device_used"] = renderer.device_used or config.device
    opened_for = 0
    try:
        for n, item in enumerate(items, 1):
            if writer.is_complete(item.object_id):
                summary.skipped.append(item.object_id)
                yield ItemProgress(n, len(items), item.object_id, "skipped", "already complete")
                continue
            try:
                if renderer is not None and config.recycle_every and (
                        opened_for >= config.recycle_every):
                    renderer.close()
                    renderer = None
                if renderer is None:
                    renderer = renderer_cls(config.options())
                    opened_for = 0
                opened_for += 1
                summary.views += render_object(renderer, item, writer, config, summary.timings)
                release_memory()
                summary.rendered.append(item.object_id)
                yield ItemProgress(n, len(items), item.object_id, "rendered")
            except MeshError as e:
                summary.failed.append({"object_id": item.object_id, "path": str(item.path),
                                       "category": e.category, "reason": e.message})
                yield ItemProgress(n, len(items), item.object_id, "failed", str(e))
            except Exception as e:  # a renderer crash on one object must not end the batch
                env = environment_error(e, out)
                if env is not None:  # the machine's (a full disk): stop, name the path
                    raise env from None
                summary.failed.append({
                    "object_id": item.object_id, "path": str(item.path),
                    "category": "render-error", "reason": f"{type(e).__name__}: {e}",
                    "traceback": traceback.format_exc(limit=5),
                })
                yield ItemProgress(n, len(items), item.object_id, "failed", f"{item.path}: {e}")
        summary.seconds = time.perf_counter() - start
        # --overwrite replaces the old output with a complete one only: with a failed object
        # (or none rendered) the new one stays in its staging folder, the old one as it was.
        whole = bool(writer.complete_ids()) and not summary.failed
        writer.finalize(splits=split_objects(writer.complete_ids(), config.splits,
                                             seed=config.seed),
                        source={"failures": summary.failed, "summary": summary.as_dict()},
                        publish=whole)
        if writer.output is not None and writer.output.replacing and not whole:
            raise OutputNotReplaced(out, writer.output.path, summary)
    except BaseException as e:
        if not isinstance(e, OutputNotReplaced):
            writer.close()
            writer.discard_if_unused()  # stopped before anything was written: nothing left
        raise
    finally:
        if renderer is not None:
            renderer.close()
        writer.close()
    return summary
