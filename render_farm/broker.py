"""A Redis broker for the farm: loopback-only and persistent by default."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path


def redis_command(port: int = 6379, *, bind: str = "127.0.0.1", data_dir: str | Path = ".",
                  password: str | None = None) -> list[str]:
    """``redis-server`` arguments: listens on ``bind`` only, keeps an append-only file in
    ``data_dir`` so queued tasks survive a restart, and requires ``password`` if given."""
    exe = shutil.which("redis-server")
    if exe is None:
        raise FileNotFoundError("redis-server not found: install it (Debian: apt-get install "
                                "redis-server; `bash scripts/bootstrap.sh` does)")
    data_dir = Path(data_dir).resolve()
    cmd = [exe]
    if password:  # in a private config file, not on the command line (visible in `ps`)
        conf = data_dir / "aist-redis-auth.conf"
        fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)  # private on purpose, whatever the umask or an older file's mode
        with os.fdopen(fd, "w") as f:
            quoted = password.replace("\\", "\\\\").replace('"', '\\"')
            f.write(f'requirepass "{quoted}"\n')
        cmd.append(str(conf))
    cmd += ["--port", str(port), "--bind", bind, "--dir", str(data_dir),
           "--appendonly", "yes", "--appendfsync", "everysec", "--save", "",
           "--protected-mode", "yes" if bind in ("127.0.0.1", "::1", "localhost") else "no",
           "--daemonize", "no"]
    return cmd


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_for_port(port: int, host: str = "127.0.0.1", timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout:.0f} s")


def start_redis(port: int, data_dir: str | Path, **kw) -> subprocess.Popen:
    """Start ``redis-server`` in the background and wait until it accepts connections."""
    Path(data_dir).mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(redis_command(port, data_dir=data_dir, **kw),
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, kw.get("bind", "127.0.0.1"))
    except TimeoutError:
        proc.kill()
        raise
    return proc
