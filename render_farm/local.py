"""The embedded default: a job's tasks on a local process pool (no broker needed).

Workers are spawned, not forked (nothing GPU-related is inherited), each renders with
``threads`` CPU threads, and may be replaced after ``max_tasks_per_child`` tasks (Blender
leaks across scenes). A worker that dies mid-task breaks the pool: a new pool takes the
remaining tasks and the dead claim counts as one failed attempt.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Generator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

from aist_app.api.progress import ItemProgress

from .job import Job, JobStatus
from .tasks import THREADS_ENV, RetryTask, run_task


@dataclass
class LocalOptions:
    workers: int = 2
    threads: int = 0  # CPU threads per worker (0: cores / workers)
    max_tasks_per_child: int = 0  # 0: keep workers for the whole job
    device: str | None = None

    def threads_per_worker(self) -> int:
        return self.threads or max(1, (os.cpu_count() or 1) // max(1, self.workers))


def _init_worker(threads: int, cores: list[int], counter) -> None:
    """Per pool process: its render threads and, when the pool fills the machine, one core of
    its own (processes hopping between cores lose their caches)."""
    os.environ[THREADS_ENV] = str(threads)
    if cores:
        with counter.get_lock():
            k = counter.value
            counter.value += 1
        os.sched_setaffinity(0, {cores[k % len(cores)]})


def local_job_events(runner, job: Job, options: LocalOptions):
    """:func:`run_local` through the stage runner: its events, and the hook once the dataset
    is complete; returns the :class:`JobStatus`."""
    from aist_app.api.events import Done
    from aist_app.common.locks import FolderLock
    from aist_app.stages.runner import item_events

    lock = FolderLock(job.root)  # one writer per folder: a second `aist render` is refused
    try:
        st = yield from item_events(run_local(job, options), "obj")
    finally:
        lock.release()
    artifact = job.announce(runner)
    if artifact is not None:
        yield artifact
    yield Done(f"renderer:{job.config.renderer}:render", {"written": len(st.done),
                                                          "failed": len(st.failed)})
    return st


def run_local(job: Job, options: LocalOptions) -> Generator[ItemProgress, None, JobStatus]:
    """Run every unfinished task of ``job``; yields one :class:`ItemProgress` per finished task
    and returns the final :class:`JobStatus`."""
    st = job.status()
    todo = list(st.pending)
    total = st.total
    done = len(st.done) + len(st.failed)
    threads = options.threads_per_worker()
    ctx = multiprocessing.get_context("spawn")
    allowed = sorted(os.sched_getaffinity(0))
    pin = allowed if options.workers == len(allowed) and threads == 1 else []
    counter = ctx.Value("i", 0)
    while todo:
        pool = ProcessPoolExecutor(
            max_workers=max(1, min(options.workers, len(todo))), mp_context=ctx,
            max_tasks_per_child=options.max_tasks_per_child or None,
            initializer=_init_worker, initargs=(threads, pin, counter))
        futures = {pool.submit(run_task, str(job.root), oid, job_id=job.job_id,
                               device=options.device, announce=False): oid for oid in todo}
        todo = []
        broken = False
        try:
            while futures:
                finished, _ = wait(futures, return_when=FIRST_COMPLETED)
                for fut in finished:
                    oid = futures.pop(fut)
                    try:
                        status, message = fut.result(), ""
                    except RetryTask as e:
                        if broken:
                            todo.append(oid)
                        else:
                            futures[pool.submit(run_task, str(job.root), oid, job_id=job.job_id,
                                                device=options.device, announce=False)] = oid
                        yield ItemProgress(done, total, oid, "retrying", str(e))
                        continue
                    except BrokenProcessPool:
                        broken = True
                        todo.append(oid)
                        continue
                    if status in ("duplicate", "stale"):
                        continue
                    done += 1
                    if status == "failed":
                        fail = job.failure(oid) or {}
                        message = f"[{fail.get('category')}] {fail.get('reason')}"
                    yield ItemProgress(done, total, oid, status, message)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        if broken:
            yield ItemProgress(done, total, "", "restarting", "a worker died; restarting the pool")
    job.finalize_if_complete()
    return job.status()
