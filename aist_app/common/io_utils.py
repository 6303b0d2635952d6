"""Atomic file writing: a reader never sees a half-written file or folder."""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any


def umask() -> int:
    """The process umask, read without changing it (``os.umask`` would, for every thread)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    old = os.umask(0o022)  # no /proc: the set-and-restore dance
    os.umask(old)
    return old


def file_mode() -> int:
    """The mode a plain ``open(path, "w")`` would give: 0666 less the umask."""
    return 0o666 & ~umask()


def dir_mode() -> int:
    return 0o777 & ~umask()


def make_temp_dir(prefix: str, parent: Path) -> Path:
    """A hidden temp folder beside its final place, with the mode ``mkdir`` would give (not
    ``mkdtemp``'s 0700, which a rename would carry into the published folder)."""
    tmp = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    os.chmod(tmp, dir_mode())
    return tmp


def atomic_write(path: Path, write: Callable[[IO[bytes]], None], *,
                 mode: int | None = None) -> None:
    """Write ``path`` through ``write(fileobj)`` into a temp file beside it, then rename. The
    file gets the umask's mode (``mkstemp``'s 0600 would survive the rename) unless ``mode``
    says otherwise (0600 for secrets)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, file_mode() if mode is None else mode)
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    atomic_write(path, lambda f: f.write(data))


def atomic_write_json(path: Path, obj: Any) -> None:
    text = json.dumps(obj, indent=2, sort_keys=False) + "\n"
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_jsonl(path: Path, rows: list[Any]) -> None:
    """One JSON object a line (metrics logs), written atomically."""
    atomic_write_bytes(path, "".join(json.dumps(r) + "\n" for r in rows).encode("utf-8"))


def publish_dir(tmp_dir: Path, final_dir: Path) -> None:
    """Move a fully written temp folder into place (replacing an older one atomically enough).

    The rename is atomic on one filesystem; an existing ``final_dir`` is first moved aside and
    removed only after the new folder is in place, so a crash never leaves neither.
    """
    final_dir = Path(final_dir)
    if final_dir.exists():
        old = final_dir.with_name(f".{final_dir.name}.old-{os.getpid()}-{uuid.uuid4().hex[:8]}")
        os.replace(final_dir, old)
        os.replace(tmp_dir, final_dir)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp_dir, final_dir)


#: Errors of the machine, not of an input: no space, an I/O error, no permission, a
#: read-only file system, a quota. A command stops on them (naming the path) rather than
#: recording the item it was working on as bad.
ENVIRONMENT_ERRNOS = frozenset({errno.ENOSPC, errno.EIO, errno.EACCES, errno.EROFS,
                                errno.EDQUOT})


def environment_error(e: BaseException, where: str | Path) -> OSError | None:
    """``e`` as an OSError naming the path when it is an error of the machine
    (:data:`ENVIRONMENT_ERRNOS`), else None."""
    if not isinstance(e, OSError) or e.errno not in ENVIRONMENT_ERRNOS:
        return None
    path = e.filename or where
    return OSError(e.errno, f"{path}: {e.strerror or e}: the machine's error, not the "
                   "input's; the command stopped (what was complete is kept)")
