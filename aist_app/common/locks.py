"""One writer per output folder: an advisory lock (``flock``) held while a command writes.

The lock file is ``.<name>.aist-lock`` beside the folder (an ``--overwrite`` swaps the folder
itself, so the lock cannot live inside it) and holds the writer's pid and host. A second
writer is refused at once with the holder's pid; the lock goes with its process (a crash
leaves no stale lock: the kernel drops it). Within one process the lock is re-entrant (the
experiment and the farm's local pool hold it around stages that take it again); farm workers
that share a job's folder by design do not take it.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import threading
import time
import weakref
from pathlib import Path

_HELD: dict[str, list] = {}  # resolved path -> [fd, count]
_GUARD = threading.Lock()


class FolderLocked(RuntimeError):
    """Another process is writing the folder."""


def lock_path(folder: str | Path) -> Path:
    folder = Path(folder).expanduser().resolve()
    return folder.with_name(f".{folder.name}.aist-lock")


def _holder(path: Path, wait_s: float = 2.0) -> str:
    """The holder's pid and host; a holder that has just taken the lock writes them a moment
    later, so an empty or partial file is read again for up to ``wait_s`` seconds."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            meta = json.loads(path.read_text())
            return f"pid {meta['pid']} on {meta['host']}"
        except (OSError, ValueError, KeyError, TypeError):
            if time.monotonic() >= deadline:
                return "another process"
            time.sleep(0.02)


class FolderLock:
    """Hold the write lock of ``folder`` until :meth:`release` (or garbage collection)."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.path = lock_path(folder)
        self.key = str(self.path)
        with _GUARD:
            held = _HELD.get(self.key)
            if held is not None:
                held[1] += 1
            else:
                _HELD[self.key] = [self._acquire(), 1]
        self._finalizer = weakref.finalize(self, _release, self.key)

    def _acquire(self) -> int:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            try:  # never through a link: the lock file is written (pid, host)
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o666)
            except OSError as e:
                if self.path.is_symlink():
                    raise FolderLocked(
                        f"{self.folder}: its lock file {self.path} is a symbolic link; "
                        "AIST never writes through one: remove it") from None
                raise OSError(e.errno, f"{self.path}: cannot create the lock file: "
                              f"{e.strerror}") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise FolderLocked(
                    f"{self.folder}: is being written by {_holder(self.path)} (lock "
                    f"{self.path}); wait for it to finish or choose another folder") from None
            # The file may have been removed by its last holder between open and lock.
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        meta = json.dumps({"pid": os.getpid(), "host": socket.gethostname()}).encode()
        os.pwrite(fd, meta, 0)  # one write, then trim: a reader sees old or new, never empty
        os.ftruncate(fd, len(meta))
        return fd

    def release(self) -> None:
        self._finalizer()


def _release(key: str) -> None:
    with _GUARD:
        held = _HELD.get(key)
        if held is None:
            return
        held[1] -= 1
        if held[1] > 0:
            return
        del _HELD[key]
        try:
            os.unlink(key)  # while still locked: a waiter re-checks the inode
        except OSError:
            pass
        os.close(held[0])
