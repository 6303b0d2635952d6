"""The farm on Celery with a Redis broker: the app, its one task, submitting and workers.

Settings that keep a killed worker from losing work and a slow task from running twice
(celery #5935, #5306, #6229, #3402):

* JSON only, never pickle; results are not stored (task state lives beside the output).
* ``task_acks_late`` + ``task_reject_on_worker_lost``: a message is acknowledged after the
  object is on disk; a pool process killed mid-task puts its message back in the queue.
* ``worker_prefetch_multiplier=1``: a worker reserves one task at a time.
* ``visibility_timeout`` far above the longest task (one object), so a slow task is never
  delivered twice; a whole worker killed mid-task does not wait for it: every worker process
  watches the jobs it has worked on, and a claim whose worker died (pid gone on this host, or
  no heartbeat for ``LEASE_S`` from another) is taken over, counted as an attempt and
  re-queued (``tasks.watch_job``; ``farm status --wait`` does the same). A task running twice
  anyway is harmless (idempotent, atomic writes).
* ``worker_max_tasks_per_child`` recycles pool processes (Blender leaks across scenes).
* The worker's main process never imports a renderer (nor torch): pool processes load it on
  their first task, after the fork, so no GPU context crosses a fork.
"""

from __future__ import annotations

import os
import time

from .job import JobError
from .tasks import DEVICE_ENV, THREADS_ENV, RetryTask, WorkerBlocked, run_task, watch_job

TASK_NAME = "aist.render_object"
DEFAULT_BROKER = "redis://127.0.0.1:6379/0"
BROKER_ENV = "AIST_BROKER"
VISIBILITY_TIMEOUT_S = 6 * 3600
RETRY_DELAY_S = 2


def queue_name(renderer: str) -> str:
    """One queue per renderer: a worker only takes tasks it has the renderer for."""
    return f"aist.render.{renderer}"


def make_app(broker: str, *, visibility_timeout: float = VISIBILITY_TIMEOUT_S,
             max_tasks_per_child: int = 0):
    from celery import Celery
    from celery.exceptions import Reject

    app = Celery("aist_farm", broker=broker, set_as_current=False)
    app.conf.update(
        task_serializer="json",
        result_serializer="json",
        event_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        worker_max_tasks_per_child=max_tasks_per_child or None,
        worker_hijack_root_logger=False,
        broker_transport_options={"visibility_timeout": visibility_timeout},
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,  # Redis restarted: reconnect, however long
        worker_cancel_long_running_tasks_on_connection_loss=False,
        task_default_queue=queue_name("pyrender"),
    )

    @app.task(name=TASK_NAME, bind=True, max_retries=None, acks_late=True)
    def render_object_task(self, out: str, object_id: str, job_id: str) -> str:
        watch_job(out, lambda job, ids: _send(self.app, job, ids))
        try:
            return run_task(out, object_id, job_id=job_id, worker=self.request.hostname,
                            block_workers=True)
        except RetryTask as e:
            raise self.retry(exc=e, countdown=RETRY_DELAY_S) from None
        except JobError as e:  # a crafted or stale message: never retried
            raise Reject(str(e), requeue=False) from None
        except WorkerBlocked:
            time.sleep(RETRY_DELAY_S)  # let another worker take it
            raise Reject("worker blocked for this job", requeue=True) from None

    return app


def submit(job, broker: str, object_ids: list[str] | None = None) -> int:
    """Queue a task per object (all unfinished ones by default); returns how many."""
    ids = object_ids if object_ids is not None else job.status().pending
    _send(make_app(broker), job, ids)
    return len(ids)


def _send(app, job, ids: list[str]) -> None:
    queue = queue_name(job.config.renderer)
    with app.connection_for_write() as conn:  # its own connection: safe from any thread
        for oid in ids:
            app.send_task(TASK_NAME, args=[str(job.root.resolve()), oid, job.job_id],
                          queue=queue, connection=conn)


def run_worker(broker: str, *, renderer: str = "pyrender", concurrency: int = 1,
               gpu: int | None = None, threads: int = 0, max_tasks_per_child: int = 0,
               name: str | None = None, loglevel: str = "INFO",
               visibility_timeout: float = VISIBILITY_TIMEOUT_S) -> None:
    """Start a worker (blocks until it is stopped)."""
    if gpu is not None:
        os.environ[DEVICE_ENV] = f"cuda:{gpu}"
    cores = os.cpu_count() or 1
    os.environ[THREADS_ENV] = str(threads or max(1, cores // max(1, concurrency)))
    if renderer == "blender" and not max_tasks_per_child:
        max_tasks_per_child = 50
    app = make_app(broker, visibility_timeout=visibility_timeout,
                   max_tasks_per_child=max_tasks_per_child)
    argv = ["worker", "-Q", queue_name(renderer), "-c", str(concurrency), "-P", "prefork",
            "--loglevel", loglevel, "--without-gossip", "--without-mingle"]
    if name:
        argv += ["-n", name]
    app.worker_main(argv=argv)
