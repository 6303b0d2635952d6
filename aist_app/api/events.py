"""The one event vocabulary of a running stage, shared by every front end.

A stage runs as a generator of these events (:mod:`aist_app.stages.runner`): the terminal
draws a bar from :class:`Progress`, the GUI a progress bar, ``--progress jsonl`` prints one
JSON object per event (``to_json``/``from_json`` round-trip them), and the Blender add-on
reads those lines. Five kinds:

* :class:`Progress` -- ``done`` of ``total`` units (objects, photos, steps), the item just
  finished and its status, and the current figures (a training step's losses);
* :class:`Log` -- a line for the user (a skipped item and why, a resumed run);
* :class:`Metric` -- an evaluation during a run (validation losses, pose accuracy);
* :class:`Artifact` -- something written and complete (a dataset, a checkpoint, a report);
* :class:`Done` -- the stage finished; its summary.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any


@dataclass(frozen=True)
class Progress:
    done: int
    total: int | None
    unit: str  # "obj", "photo", "step", "view", "image"
    item: str = ""  # the object, photo or step just finished
    status: str = ""  # "rendered", "skipped", "failed", "retrying", "step", ...
    message: str = ""
    values: dict[str, float] = field(default_factory=dict)  # a step's losses


@dataclass(frozen=True)
class Log:
    message: str
    level: str = "info"  # "info", "warning" (an item skipped with its reason)


@dataclass(frozen=True)
class Metric:
    step: int
    values: dict[str, float]
    name: str = "eval"  # "val", "val_pose", "eval"


@dataclass(frozen=True)
class Artifact:
    path: str
    kind: str  # "dataset", "checkpoint", "run", "report", "reconstruction"
    dataset_kind: str | None = None  # "synthetic", "real" or "stylized" for a dataset
    summary: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Done:
    stage: str  # "<kind>:<plugin>:<operation>"
    summary: dict[str, Any] = field(default_factory=dict)


Event = Progress | Log | Metric | Artifact | Done
_TYPES: dict[str, type] = {"progress": Progress, "log": Log, "metric": Metric,
                           "artifact": Artifact, "done": Done}
_NAMES = {cls: name for name, cls in _TYPES.items()}


def _plain(value: Any) -> Any:
    """JSON-safe: paths and other objects as strings, non-finite floats as None."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, bool | int | str):
        return value
    return str(value)


def to_json(event: Event) -> dict[str, Any]:
    """``{"event": "progress", ...fields}``: one line of ``--progress jsonl``."""
    return {"event": _NAMES[type(event)], **_plain(asdict(event))}


def dumps(event: Event) -> str:
    return json.dumps(to_json(event), separators=(",", ":"))


def from_json(data: dict[str, Any] | str) -> Event:
    """The event a ``to_json`` object (or its text) describes; unknown fields are ignored, so
    a newer writer stays readable."""
    if isinstance(data, str):
        data = json.loads(data)
    try:
        cls = _TYPES[data["event"]]
    except KeyError:
        raise ValueError(f"not an AIST event: {str(data)[:200]}") from None
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in names})
