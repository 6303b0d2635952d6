"""The one task of the farm: render one object of a job, all its views, atomically.

:func:`run_task` is plain Python: the local process pool and the Celery task both call it.
It is idempotent (an object already on disk is skipped), keeps the renderer open for the
life of the process (heavy modules load once per worker process), and does the failure
accounting of :mod:`aist_farm.job`.
"""

from __future__ import annotations

import os
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from aist_app.render.pipeline import render_object
from aist_app.scene.meshes import MeshError

from .job import HEARTBEAT_S, MAX_ATTEMPTS, Job

#: How often a worker process looks for tasks of dead workers in the jobs it has seen.
REAP_EVERY_S = 2 * HEARTBEAT_S

#: Environment of a worker process: the device and CPU threads its renderer uses.
DEVICE_ENV = "AIST_FARM_DEVICE"
THREADS_ENV = "AIST_FARM_THREADS"

_renderers: dict[tuple, object] = {}


class RetryTask(Exception):
    """This attempt failed; the task should run again (perhaps on another worker)."""


class WorkerBlocked(Exception):
    """This worker failed too many tasks of the job; leave its tasks to other workers."""


def _renderer(job: Job, device: str | None, threads: int):
    """The process's renderer for this job's options, opened on first use and kept."""
    from aist_app.api.manager import create_plugin_manager

    options = replace(job.config.options(), threads=threads,
                      device=device or job.config.device)
    key = (job.config.renderer, options)
    if key not in _renderers:
        for old in list(_renderers.values()):  # one open renderer per process
            old.close()
        _renderers.clear()
        cls = create_plugin_manager().stage("renderer", job.config.renderer).factory
        _renderers[key] = cls(options)
    return _renderers[key]


def _drop_renderers() -> None:
    for r in list(_renderers.values()):
        try:
            r.close()
        except Exception:
            pass
    _renderers.clear()


_watched: dict[str, Callable[[Job, list[str]], None]] = {}
_watch_lock = threading.Lock()
_watcher: threading.Thread | None = None


def watch_job(out: str | Path, requeue: Callable[[Job, list[str]], None]) -> None:
    """Keep an eye on the job at ``out`` from this worker process: every
    :data:`REAP_EVERY_S` seconds, tasks whose worker died are taken over (one attempt each)
    and handed to ``requeue``, so they come back without ``farm retry`` or the broker's
    visibility timeout. Stops watching a job once it is finished."""
    global _watcher
    with _watch_lock:
        _watched[str(Path(out).absolute())] = requeue
        if _watcher is None or not _watcher.is_alive():
            _watcher = threading.Thread(target=_watch_loop, name="aist-farm-reaper",
                                        daemon=True)
            _watcher.start()


def requeue_lost(job: Job, requeue: Callable[[Job, list[str]], None]) -> list[str]:
    """Take over every lost task of ``job`` and re-queue it; returns their ids."""
    ids = [oid for oid in job.lost_claims() if job.take_over_lost(oid)]
    if ids:
        requeue(job, ids)
    return ids


def _watch_loop() -> None:
    while True:
        time.sleep(REAP_EVERY_S)
        with _watch_lock:
            items = list(_watched.items())
        for root, requeue in items:
            try:
                job = Job.load(root)
                if job.settled():  # cheap: polled every few seconds by every process
                    with _watch_lock:
                        _watched.pop(root, None)
                    continue
                requeue_lost(job, requeue)
            except Exception:  # a job folder removed, a broker hiccup: try again next round
                continue


def run_task(out: str | Path, object_id: str, *, job_id: str | None = None,
             worker: str | None = None, device: str | None = None, threads: int | None = None,
             block_workers: bool = False, announce: bool = True) -> str:
    """Render ``object_id`` of the job at ``out``. Returns ``rendered``, ``skipped`` (already
    done), ``failed`` (bad input, or the last allowed attempt failed), ``duplicate`` (another
    live worker is rendering it now) or ``stale`` (a message of an older job). Raises
    :class:`RetryTask` when the attempt failed and may be retried, :class:`WorkerBlocked`
    when this worker should leave the job's tasks to others. ``announce``: the task that
    completes the dataset fires the ``aist_dataset_written`` hook (the local pool leaves that
    to its parent, which runs the caller's plugins)."""
    worker = worker or f"local-{os.getpid()}"
    device = device or os.environ.get(DEVICE_ENV) or None
    threads = int(threads if threads is not None else os.environ.get(THREADS_ENV, 0))
    job = Job.load(out)
    if job_id is not None and job.job_id != job_id:
        return "stale"
    job.check_id(object_id)  # before the id is joined into any path
    if job.is_done(object_id):
        _finalize(job, announce)
        return "skipped"
    if job.failure(object_id) is not None:
        return "failed"
    if block_workers and job.worker_blocked(worker):
        raise WorkerBlocked(f"{worker} failed {MAX_ATTEMPTS} tasks of job {job.job_id}")
    claim = job.read_claim(object_id)
    if claim is not None:
        if job.claim_alive(claim) and claim.get("pid") != os.getpid():
            return "duplicate"
        if not job.claim_alive(claim) and not job.count_lost(object_id, claim):
            return "failed"  # its worker died mid-task: an attempt, and it was the last
    item = job.item(object_id)
    status = "rendered"
    with job.claim(object_id, worker):
        try:
            renderer = _renderer(job, device, threads)
            writer = job.writer()
            try:
                render_object(renderer, item, writer, job.config)
            finally:
                writer.close()
        except MeshError as e:  # bad input fails at once, on any worker: not the worker's fault
            job.mark_failed(object_id, e.category, str(e))  # names the path it looked for
            status = "failed"
        except Exception as e:
            _drop_renderers()  # its state is unknown after an error
            reason = f"{item.path}: {type(e).__name__}: {e}"
            n = job.record_attempt(object_id, worker, "render-error", reason,
                                   traceback.format_exc(limit=8))
            job.record_worker_failure(worker, object_id, reason)
            if n < MAX_ATTEMPTS:
                raise RetryTask(f"attempt {n} of {MAX_ATTEMPTS} failed: {reason}") from None
            job.mark_failed(object_id, "render-error", f"failed {n} times; last: {reason}")
            status = "failed"
    _finalize(job, announce)
    return status


def _finalize(job: Job, announce: bool) -> None:
    """Write the dataset once every task is settled, and announce it (the hook) once."""
    if job.maybe_finalize() and announce:
        job.announce()
