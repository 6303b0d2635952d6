"""One rule for every name and path read from a file or a message (dataset.json,
cameras.json, a farm job's job.json, a task message): a name is one plain path component,
and a path stays inside the root it belongs to. Nothing read from disk or the network is
joined into a path before it passes."""

from __future__ import annotations

import os
from pathlib import Path


class UnsafePath(ValueError):
    """A name or path read from a file or message that would reach outside its root."""


def check_name(name: object, what: str, where: str | Path) -> str:
    """``name`` if it is one plain path component (a non-empty string, no separator, not
    ``.`` or ``..``, no leading dot, no NUL, at most 255 bytes), else :class:`UnsafePath`
    naming ``what`` and the file (or message) it came from."""
    ok = (isinstance(name, str) and name and "/" not in name and "\\" not in name
          and "\0" not in name and not name.startswith(".")
          and len(name.encode("utf-8", "surrogateescape")) <= 255)
    if not ok:
        raise UnsafePath(f"{where}: invalid {what} {name!r} (a plain name: no path "
                         "separator, no leading dot, not empty)")
    return name


def lexically_inside(path: str | Path, root: str | Path) -> bool:
    """Whether ``path`` names something under ``root`` once both are made absolute and
    their ``..`` are folded (links are not followed)."""
    p = Path(os.path.normpath(os.path.abspath(path)))
    r = Path(os.path.normpath(os.path.abspath(root)))
    return p == r or p.is_relative_to(r)


def inside(path: str | Path, root: str | Path, what: str, where: str | Path) -> Path:
    """``path`` if it lies under ``root`` lexically and after following its links, else
    :class:`UnsafePath`."""
    if not lexically_inside(path, root) or not lexically_inside(
            Path(path).resolve(), Path(root).resolve()):
        raise UnsafePath(f"{where}: {what} {str(path)!r} lies outside {root}")
    return Path(path)
