"""The render farm as an AIST plugin (entry point ``farm`` in the ``aist.plugins`` group): it
adds ``aist farm`` to the command line. Cheap to import: the commands load when asked for."""

from __future__ import annotations

from typing import Any

from aist_app import hookimpl


@hookimpl
def aist_register_commands(cli: Any) -> None:
    """``aist farm`` (submit, worker, status, broker)."""
    from aist_farm.cli import farm

    cli.add_command(farm)


def check_redis(options):
    """redis-server on PATH (``aist farm broker`` starts one)."""
    import shutil

    from aist_app.api.checks import Check

    exe = shutil.which("redis-server")
    if exe is None:
        return Check("redis-server", "missing", "redis-server is not on PATH",
                     "apt-get install redis-server (bash scripts/bootstrap.sh does)")
    return Check("redis-server", "ok", exe)


def check_broker(options):
    """The broker (``--broker`` or ``$AIST_BROKER``) answers a ping."""
    import os

    from aist_app.api.checks import Check
    from aist_farm.celery_app import BROKER_ENV
    from aist_farm.job import redact

    url = options.broker or os.environ.get(BROKER_ENV)
    if not url:
        return Check("broker", "warn", f"no broker configured (--broker or ${BROKER_ENV}); "
                     "`aist render --workers N` needs none", "aist farm broker")
    try:
        import redis

        redis.Redis.from_url(url, socket_timeout=3, socket_connect_timeout=3).ping()
    except Exception as e:  # connection refused, auth, DNS: all say the same to the user
        return Check("broker", "missing", f"{redact(url)} not reachable: {e}",
                     "start one: aist farm broker (loopback), or check host, port, password")
    return Check("broker", "ok", f"{redact(url)} answers")


@hookimpl
def aist_register_checks(checks) -> None:
    checks.add("redis-server", check_redis, stages=("farm",))
    checks.add("broker", check_broker, stages=("farm",))
