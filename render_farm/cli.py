"""``aist farm ...``: the render farm's commands (added to the ``aist`` group by the farm's
plugin, :mod:`aist_farm.plugin`), and the local pool behind ``aist render --workers N``."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from aist_app.cli.common import fail, progress_option, runner, say, stage
from aist_app.cli.datasets import render_config, render_options


def broker_url(value: str | None, job=None, *, insecure: bool = False) -> str:
    """The broker: ``value``, else $AIST_BROKER, else the job's. One beyond this machine
    without a password is refused (as `farm broker` refuses to listen so) unless
    ``insecure``: a worker takes its tasks' paths from it."""
    import os

    from aist_farm.celery_app import BROKER_ENV
    from aist_farm.job import redact

    url = value or os.environ.get(BROKER_ENV) or (job.broker if job is not None else None)
    if url and ":***@" in url:
        fail(f"the job's broker needs a password: pass --broker or set ${BROKER_ENV}")
    if url and not insecure and not _loopback_or_password(url):
        fail(f"broker {redact(url)}: a broker beyond this machine needs a password "
             f"(redis://:PASSWORD@HOST:PORT/DB, best through ${BROKER_ENV}; see "
             "render_farm/README.md); pass --insecure only on a network you trust")
    return url


def _loopback_or_password(url: str) -> bool:
    import ipaddress
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.password:
        return True
    host = parts.hostname or "localhost"
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


#: --insecure of the commands that talk to a broker.
insecure_option = click.option(
    "--insecure", is_flag=True,
    help="Accept a broker beyond this machine without a password (a trusted network only).")


def create_job(meshes: Path, out: Path, config, broker: str | None = None):
    from aist_farm.job import Job, JobError

    try:
        _, items = runner().render_items(meshes, config)
        return Job.create(out, items, config, meshes, broker=broker)
    except (LookupError, FileNotFoundError, ValueError, JobError) as e:
        fail(str(e))


def run_local_job(meshes: Path, out: Path, config, *, workers: int,
                  max_tasks_per_child: int = 0, threads: int = 0):
    """A farm job on a local process pool, through the stage runner (its hook fires once the
    dataset is complete)."""
    from aist_app.cli.common import drive
    from aist_farm.local import LocalOptions, local_job_events

    job = create_job(meshes, out, config)
    opts = LocalOptions(workers=workers, threads=threads,
                        max_tasks_per_child=max_tasks_per_child)
    st = drive(local_job_events(runner(), job, opts),
               f"render ({config.renderer}, {workers} workers)")
    say(f"dataset: {out}")
    for f in st.failed:
        say(f"  failed {f['object_id']} [{f['category']}]: {f['reason']}")
    say(st.line())
    return st


@click.group("farm")
def farm() -> None:
    """Render a collection as a job of per-object tasks: on Celery workers through a Redis
    broker, or on a local process pool when no broker is given. The job's manifest and task
    states live in OUT/.farm beside the dataset."""


@farm.command("submit")
@click.argument("meshes", type=click.Path(exists=True, path_type=Path))
@click.argument("out", type=click.Path(path_type=Path))
@click.option("--broker", help="redis://HOST:PORT/DB (default: $AIST_BROKER; none: run the "
                               "job here on a local pool).")
@click.option("--local", is_flag=True,
              help="Run the job here on a local process pool, even with $AIST_BROKER set "
                   "(what `aist render --workers N` does).")
@click.option("--workers", default=0, type=int,
              help="Local pool size when there is no broker (default: CPU cores).")
@insecure_option
@render_options
@progress_option
def farm_submit_cmd(meshes: Path, out: Path, broker: str | None, local: bool, workers: int,
                    insecure: bool, **kw) -> None:
    """Create a render job (OUT/.farm/job.json lists every object with its seed) and queue a
    task per unfinished object.

    \b
    Examples:
      AIST_BROKER=redis://:SECRET@farm-host:6379/0 aist farm submit meshes/ /shared/out
      aist farm submit meshes/ out/ds   # no broker: a local process pool
    """
    import os

    config = render_config(**kw)
    if local and broker:
        fail("--local runs the job here: leave out --broker")
    url = None if local else broker_url(broker, insecure=insecure)
    if not url:
        if not local:
            click.echo("no broker given: running the job on a local process pool", err=True)
        st = run_local_job(meshes, out, config, workers=workers or os.cpu_count() or 1,
                           max_tasks_per_child=kw["recycle_every"])
        sys.exit(1 if st.failed or not st.done else 0)  # as `aist render` (docs/outputs.md)
    from aist_farm.celery_app import queue_name, submit
    from aist_farm.job import redact

    job = create_job(meshes, out, config, broker=url)
    try:
        n = submit(job, url)
    except Exception as e:  # kombu raises OperationalError & co. when Redis is down
        fail(f"cannot reach the broker at {redact(url)}: {e}")
    click.echo(f"job {job.job_id}: {n} tasks queued on {queue_name(config.renderer)} "
               f"({len(job.items)} objects; output {out})")
    click.echo(f"watch it with: aist farm status {out} --wait")
@farm.command("worker")
@click.option("--broker", help="redis://HOST:PORT/DB (default: $AIST_BROKER or "
                               "redis://127.0.0.1:6379/0).")
@click.option("--renderer", default="pyrender", show_default=True,
              help="Take the tasks of jobs rendered with this renderer.")
@click.option("--concurrency", "-c", default=1, show_default=True, type=int,
              help="Pool processes of this worker.")
@click.option("--gpu", type=int, help="Render on GPU N (default: the job's --device).")
@click.option("--threads", default=0, type=int,
              help="CPU threads per pool process (default: cores / concurrency).")
@click.option("--max-tasks-per-child", default=0, type=int,
              help="Replace a pool process after N tasks (default: never; 50 for blender).")
@click.option("--name", help="Worker name (Celery hostname), e.g. w1@%h.")
@click.option("--loglevel", default="INFO", show_default=True,
              help="Celery log level: DEBUG, INFO, WARNING or ERROR.")
@insecure_option
def farm_worker_cmd(broker, renderer, concurrency, gpu, threads, max_tasks_per_child, name,
                    loglevel, insecure) -> None:
    """Start a Celery worker that renders tasks from the broker (Ctrl-C stops it; a task in
    progress then goes back to the queue).

    \b
    Examples:
      AIST_BROKER=redis://:SECRET@farm-host:6379/0 aist farm worker --concurrency 2
      aist farm worker --renderer blender --gpu 0
    """
    from aist_farm.celery_app import DEFAULT_BROKER, run_worker

    stage("renderer", renderer)
    run_worker(broker_url(broker, insecure=insecure) or DEFAULT_BROKER, renderer=renderer,
               concurrency=concurrency, gpu=gpu, threads=threads,
               max_tasks_per_child=max_tasks_per_child, name=name, loglevel=loglevel)


@farm.command("status")
@click.argument("out", type=click.Path(exists=True, path_type=Path))
@click.option("--wait", is_flag=True, help="Block until nothing is pending or running.")
@click.option("--timeout", default=0.0, type=float, help="With --wait: give up after S "
                                                           "seconds (exit 124).")
@click.option("--requeue-lost/--no-requeue-lost", default=True, show_default=True,
              help="With --wait: re-queue tasks whose worker died (each counts as an attempt; "
                   "workers do this too) through the job's broker.")
@click.option("--broker", help="For re-queueing (default: $AIST_BROKER or the job's).")
def farm_status_cmd(out: Path, wait: bool, timeout: float, requeue_lost: bool,
                    broker: str | None) -> None:
    """Show a job's progress; the last line is `done=N running=N pending=N failed=N`.

    \b
    Examples:
      aist farm status /shared/out --wait
    """
    import time

    from tqdm import tqdm

    from aist_farm.job import Job, JobError

    try:
        job = Job.load(out)
    except JobError as e:
        fail(str(e))
    st = job.status()
    bar = tqdm(total=st.total, unit="obj", desc=f"job {job.job_id[:8]}", file=sys.stderr,
               disable=None if wait else True)
    start = time.monotonic()
    timed_out = False
    url = None
    if wait and requeue_lost and job.broker:
        import os

        from aist_farm.celery_app import BROKER_ENV

        url = broker or os.environ.get(BROKER_ENV) or job.broker
        url = None if ":***@" in url else url
        if url and not _loopback_or_password(url):
            click.echo("not re-queueing lost tasks through a broker beyond this machine "
                       "without a password (`aist farm retry --insecure` does)", err=True)
            url = None
    try:
        while True:
            st = job.status()
            bar.n = len(st.done) + len(st.failed)
            bar.set_postfix_str(st.line())
            if not wait or st.finished:
                break
            if st.lost and url:
                from aist_farm.celery_app import submit
                from aist_farm.tasks import requeue_lost as take_over_and_requeue

                for oid in take_over_and_requeue(job, lambda j, ids: submit(j, url, ids)):
                    tqdm.write(f"re-queued {oid} (its worker died)", file=sys.stderr)
            if timeout and time.monotonic() - start > timeout:
                timed_out = True
                break
            time.sleep(0.5)
    finally:
        bar.close()
    if st.finished:
        # A broker's job is announced by the worker task that completes it.
        if job.finalize_if_complete() and not job.broker:
            job.announce(runner())
    if st.lost and not url:
        click.echo(f"{len(st.lost)} task(s) lost (their worker died): workers that worked on "
                   f"this job re-queue them within seconds; `aist farm retry {out}` does it now")
    for f in st.failed:
        click.echo(f"failed {f['object_id']} [{f['category']}]: {f['reason']}")
    click.echo(st.line())
    if timed_out:
        sys.exit(124)
    if wait and st.failed:
        sys.exit(1)


@farm.command("retry")
@click.argument("out", type=click.Path(exists=True, path_type=Path))
@click.option("--broker", help="default: $AIST_BROKER or the job's broker.")
@click.option("--all-pending", is_flag=True,
              help="Also re-queue pending tasks (e.g. after the broker lost its queue).")
@insecure_option
def farm_retry_cmd(out: Path, broker: str | None, all_pending: bool, insecure: bool) -> None:
    """Re-queue failed and lost tasks of a job (their failure counts start again).

    \b
    Examples:
      aist farm retry /shared/out
    """
    from aist_farm.celery_app import submit
    from aist_farm.job import Job, JobError

    try:
        job = Job.load(out)
    except JobError as e:
        fail(str(e))
    # Everything checked before anything is reset: the job (its ids, on load) and the
    # broker.
    url = broker_url(broker, job, insecure=insecure)
    if not url:
        fail("no broker: pass --broker, set $AIST_BROKER, or re-run the local job with "
              "`aist render --workers N` (it resumes)")
    st = job.status()
    ids = [f["object_id"] for f in st.failed] + list(st.lost)
    if all_pending:
        ids += [oid for oid in st.pending if oid not in ids]
    for oid in ids:
        job.reset(oid)
    job.unblock_workers()
    n = submit(job, url, ids) if ids else 0
    click.echo(f"re-queued {n} task(s)")
    click.echo(job.status().line())


@farm.command("broker")
@click.option("--port", default=6379, show_default=True, type=int, help="TCP port.")
@click.option("--bind", default="127.0.0.1", show_default=True,
              help="Address to listen on (loopback only unless you change it).")
@click.option("--dir", "data_dir", default=".aist-redis", show_default=True,
              type=click.Path(path_type=Path), help="Where Redis keeps its append-only file.")
@click.option("--password-env", default=None,
              help="Name of an environment variable holding a password to require.")
def farm_broker_cmd(port: int, bind: str, data_dir: Path, password_env: str | None) -> None:
    """Run a Redis broker for the farm in the foreground (persistent, loopback by default).

    \b
    Examples:
      aist farm broker --port 6379
      AIST_PW=secret aist farm broker --bind 0.0.0.0 --password-env AIST_PW
    """
    import os

    from aist_farm.broker import redis_command

    password = os.environ.get(password_env) if password_env else None
    if password_env and not password:
        fail(f"${password_env} is empty")
    if bind not in ("127.0.0.1", "::1", "localhost") and not password:
        fail(f"--bind {bind} exposes the broker beyond this machine: require a password "
              "(--password-env) and see render_farm/README.md for TLS")
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        cmd = redis_command(port, bind=bind, data_dir=data_dir, password=password)
    except FileNotFoundError as e:
        fail(str(e))
    click.echo(f"redis broker on {bind}:{port}, data in {data_dir}", err=True)
    os.execv(cmd[0], cmd)

