"""Where model weights come from, and which torch device a stage runs on (every torch stage).

Weights are never downloaded at run time: an explicit file, ``$AIST_WEIGHTS_DIR``, or the
torch hub cache, under the file name the upstream project uses.
"""

from __future__ import annotations

import os
from pathlib import Path

WEIGHTS_ENV = "AIST_WEIGHTS_DIR"


class WeightsNotFoundError(FileNotFoundError):
    """Model weights are not on this machine; the message says which file and where."""


def find_weights(filename: str, explicit: str | None, what: str, *,
                 option: str = "--weights") -> Path:
    """``explicit`` (a file, or a folder holding ``filename``), else ``$AIST_WEIGHTS_DIR``,
    else the torch hub cache. Raises :class:`WeightsNotFoundError` naming the file, the
    places looked at and the command's ``option`` that gives a file."""
    looked: list[Path] = []
    if explicit:
        p = Path(explicit).expanduser()
        p = p / filename if p.is_dir() else p
        if p.is_file():
            return p
        raise WeightsNotFoundError(f"{option} {p}: weights file not found ({what})")
    if os.environ.get(WEIGHTS_ENV):
        looked.append(Path(os.environ[WEIGHTS_ENV]).expanduser() / filename)
    try:
        from torch.hub import get_dir

        looked.append(Path(get_dir()) / "checkpoints" / filename)
    except ImportError:
        looked.append(Path("~/.cache/torch/hub/checkpoints").expanduser() / filename)
    for p in looked:
        if p.is_file():
            return p
    places = "\n  ".join(str(p) for p in looked)
    raise WeightsNotFoundError(
        f"{what}: weights file {filename!r} not found. Looked at:\n  {places}\n"
        f"Download it on a machine with internet and put it in ${WEIGHTS_ENV} (or the torch "
        f"cache above), or pass {option} PATH. AIST never falls back to random weights.")


