"""The output-folder contract, one implementation for every writer (datasets and runs).

A new output folder gets ``.aist-output.json``: the stage and plugin that made it, the config
fields that determine its content and the identity of its inputs. Writing into an existing
folder continues (resumes) only when that record matches; otherwise nothing is written and
:class:`OutputConflict` says what differs. ``overwrite=True`` writes the new output into a
staging folder beside it (``.<name>.aist-new``) and swaps it in when complete
(:meth:`OutputFolder.publish`), so the old content stays usable until then; an interrupted
overwrite resumes in its staging folder.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aist_app import __version__
from aist_app.common.io_utils import atomic_write_json, publish_dir
from aist_app.common.locks import FolderLock, FolderLocked

RECORD = ".aist-output.json"
FORMAT = "aist-output"


ADVICE = ("Use --overwrite to replace it (the old content stays until the new output is "
          "complete) or choose a new folder.")


class OutputConflict(ValueError):
    """The output folder holds something else than what this command would write; ``reason``
    says what, the message adds what to do."""

    def __init__(self, reason: str, advice: str = ADVICE) -> None:
        self.reason = reason
        super().__init__(f"{reason}\n{advice}" if advice else reason)


class OutputNotReplaced(ValueError):
    """``--overwrite`` kept the old output: the new one is not complete (an object failed,
    or none was written); it stays in its staging folder."""

    def __init__(self, out: str | Path, staging: str | Path, summary: Any) -> None:
        failed = getattr(summary, "failed", [])
        lines = [f"  failed {f['object_id']} [{f.get('category', '?')}]: {f.get('reason', '')}"
                 for f in failed[:5]] + ([f"  ... and {len(failed) - 5} more"]
                                         if len(failed) > 5 else [])
        super().__init__(
            f"{out}: kept as it was: the new output is not complete ({len(failed)} failed, "
            f"{len(getattr(summary, 'rendered', []))} written), so --overwrite did not "
            f"replace it; the new one is left in {staging} (the same command resumes it "
            "there once its inputs are fixed)" + ("\n" + "\n".join(lines) if lines else ""))


@dataclass
class OutputRecord:
    """What made an output folder; ``stage``, ``plugin``, ``config`` and ``inputs`` decide
    whether a later command may continue in it."""

    stage: str
    plugin: str
    config: dict[str, Any] = field(default_factory=dict)
    inputs: dict[str, Any] = field(default_factory=dict)

    def key(self) -> dict[str, Any]:
        # JSON round trip: tuples and lists compare equal, as they will once on disk.
        return json.loads(json.dumps({"stage": self.stage, "plugin": self.plugin,
                                      "config": self.config, "inputs": self.inputs}))

    def to_json(self) -> dict[str, Any]:
        return {"format": FORMAT, **self.key(), "aist_version": __version__,
                "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def read_record(folder: str | Path) -> dict[str, Any] | None:
    path = Path(folder) / RECORD
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as e:
        raise OutputConflict(f"{path}: unreadable output record ({e}).") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise OutputConflict(f"{path}: not an AIST output record.")
    return meta


def _flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(d, dict):
        return {prefix: d}
    out: dict[str, Any] = {}
    for k, v in d.items():
        out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    return out


def differences(old: dict[str, Any], new: dict[str, Any], limit: int = 8) -> list[str]:
    """Human lines ``key: <in the folder> -> <asked now>`` for every differing leaf."""
    a, b = _flatten(old), _flatten(new)
    lines = []
    for k in sorted(set(a) | set(b)):
        if a.get(k, "<absent>") != b.get(k, "<absent>"):
            lines.append(f"{k}: {a.get(k, '<absent>')!r} in the folder, "
                         f"{b.get(k, '<absent>')!r} now")
    if len(lines) > limit:
        lines = lines[:limit] + [f"... and {len(lines) - limit} more"]
    return lines


def _key(meta: dict[str, Any]) -> dict[str, Any]:
    """The fields of a record that decide whether a command may continue its folder."""
    return {k: meta.get(k) for k in ("stage", "plugin", "config", "inputs")}


def _is_empty(folder: Path) -> bool:
    return not any(folder.iterdir())


def staging_path(out: Path) -> Path:
    return out.with_name(f".{out.name}.aist-new")


class OutputFolder:
    """Where a command writes: ``path`` is the output folder itself (new or resumed) or, when
    replacing, its staging folder; call :meth:`publish` once the output is complete."""

    def __init__(self, out: str | Path, record: OutputRecord, *, overwrite: bool = False,
                 what: str = "output", lock: bool = True) -> None:
        """``lock``: hold the folder's write lock (:mod:`aist_app.common.locks`) until
        :meth:`publish` or :meth:`release`; farm workers sharing a job's folder pass False."""
        self.final = Path(out)
        self.record = record
        self.resumed = False
        if self.final.exists() and not self.final.is_dir():
            raise OutputConflict(f"{self.final}: is a file, not a folder.", "Choose a folder.")
        check_apart(self.final, record.inputs)
        self.lock = None
        if lock:
            try:
                self.lock = FolderLock(self.final)
            except FolderLocked as e:
                raise OutputConflict(str(e), "") from None
        state = self._check(self.final, what, overwrite)
        self.created = False  # whether this command made the folder it writes in
        if state == "replace":
            self.path = staging_path(self.final)
            if self.path.is_dir() and self._matches(self.path):
                self.resumed = True  # an interrupted overwrite goes on where it stopped
            else:
                shutil.rmtree(self.path, ignore_errors=True)
                self._start(self.path)
                self.created = True
        else:
            self.path = self.final
            self.resumed = state == "resume"
            if state == "new":
                self.created = not self.final.exists()
                self._start(self.path)

    @property
    def replacing(self) -> bool:
        return self.path != self.final

    def _matches(self, folder: Path) -> bool:
        try:
            meta = read_record(folder)
        except OutputConflict:
            return False
        return meta is not None and _key(meta) == self.record.key()

    def _check(self, folder: Path, what: str, overwrite: bool) -> str:
        if not folder.exists() or _is_empty(folder):
            return "new"
        if overwrite:
            return "replace"
        meta = read_record(folder)
        if meta is None:
            raise OutputConflict(
                f"{folder}: already holds files that no AIST output record describes (written "
                f"by an older AIST or by something else), so AIST cannot tell whether this "
                f"{what} belongs with them.")
        old = _key(meta)
        if old == self.record.key():
            return "resume"
        diff = "\n  ".join(differences(old, self.record.key()))
        raise OutputConflict(
            f"{folder}: already holds a different {meta.get('stage')} output "
            f"({meta.get('plugin')}); writing this {what} there would mix the two:\n  {diff}")

    def _start(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_json(folder / RECORD, self.record.to_json())

    def publish(self) -> Path:
        """Swap a finished replacement into place (a no-op when writing in place); the
        output is complete, so its write lock is released."""
        if self.replacing and self.path.is_dir():
            publish_dir(self.path, self.final)
            self.path = self.final
        self.release()
        return self.final

    def discard_if_unused(self) -> bool:
        """After a refused or failed command: remove the folder this command created when
        nothing but its record (and empty folders) is in it, so a refusal leaves nothing
        behind; returns whether it did."""
        if not self.created or not self.path.is_dir():
            return False
        def kept(p: Path) -> bool:  # a file of the output (temp folders are not)
            rel = p.relative_to(self.path).parts
            return p.is_file() and p.name != RECORD and not any(
                part.startswith(".") for part in rel[:-1])
        if any(kept(p) for p in self.path.rglob("*")):
            return False
        shutil.rmtree(self.path, ignore_errors=True)
        return True

    def release(self) -> None:
        """Give up the folder's write lock (idempotent)."""
        if self.lock is not None:
            self.lock.release()
            self.lock = None

    def publish_with(self, inside: str | Path) -> Path:
        """:meth:`publish`, and where ``inside`` (a path under the folder written to) now
        is."""
        rel = Path(inside).relative_to(self.path)
        return self.publish() / rel


def input_paths(inputs: Any, key: str = "") -> list[tuple[str, Path]]:
    """Every absolute path an output record's ``inputs`` names, with the key naming it."""
    if isinstance(inputs, dict):
        if "path" in inputs and isinstance(inputs["path"], str):
            return [(key, Path(inputs["path"]))]
        return [x for k, v in inputs.items() for x in input_paths(v, k if not key else
                                                                 f"{key}.{k}")]
    if isinstance(inputs, list | tuple):
        return [x for k, v in enumerate(inputs) for x in input_paths(v, f"{key}[{k}]")]
    if isinstance(inputs, str) and Path(inputs).is_absolute():
        return [(key, Path(inputs))]
    return []


def run_folder_of(checkpoint: str | Path) -> Path:
    """The run folder a checkpoint file belongs to (``RUN/checkpoints/x.pt`` -> ``RUN``; a
    checkpoint elsewhere: its folder): an input as a whole, so no output lands in it."""
    path = Path(checkpoint)
    if path.is_dir():
        return path
    return path.parent.parent if path.parent.name == "checkpoints" else path.parent


#: What marks each kind of folder the app and the CLI open: (kind, files any of which
#: marks it). Checked in this order.
FOLDER_MARKS = (("dataset", ("dataset.json",)), ("experiment", ("experiment.json",)),
                ("run", ("metrics.jsonl", "checkpoints")),
                ("report", ("metrics.json", "report.html", "elevations.txt")))


def folder_kind(path: str | Path) -> str:
    """``dataset``, ``experiment``, ``run`` or ``report``; a folder that is none of them
    raises ValueError saying what was looked for."""
    path = Path(path)
    if not path.is_dir():
        raise ValueError(f"{path}: not a folder")
    for kind, marks in FOLDER_MARKS:
        if any((path / m).exists() for m in marks):
            return kind
    looked = "; ".join(f"a {kind} has {' or '.join(marks)}" for kind, marks in FOLDER_MARKS)
    raise ValueError(f"{path} is not a dataset, an experiment, a run or a report: {looked}, "
                     "and it has none of them")


def check_apart(out: str | Path, inputs: Any) -> None:
    """Refuse an output folder that is an input, lies inside one or contains one (an
    ``--overwrite`` would delete the input, a render would write into its meshes), before
    anything is written."""
    final = Path(out).expanduser().resolve()
    for key, path in input_paths(inputs):
        path = path.expanduser().resolve()
        if final == path:
            why = "is"
        elif final.is_relative_to(path):
            why = "lies inside"
        elif path.is_relative_to(final):
            why = "contains"
        else:
            continue
        raise OutputConflict(
            f"{out}: the output folder {why} the input {key} ({path}); an output is never "
            "written over, into or around one of its inputs, with or without --overwrite.",
            "Choose an output folder outside the inputs.")


# -- input identities ---------------------------------------------------------------------------
def folder_identity(path: str | Path) -> str:
    """An input folder or file by its absolute path."""
    return str(Path(path).expanduser().resolve())


def content_config(config: dict[str, Any], ignore: tuple[str, ...]) -> dict[str, Any]:
    """``config`` without the fields that do not change what is written (device, logging)."""
    return {k: v for k, v in config.items() if k not in ignore}


def run_folder(run_dir: str | Path, record: OutputRecord, *, checkpoint: str, resume: bool,
               overwrite: bool, what: str) -> tuple[OutputFolder, bool]:
    """A trainer's run folder and whether to resume from its ``checkpoint`` (a path inside
    it). A folder made by the same training (record matches) continues from its checkpoint;
    ``resume`` demands one; a run made before output records is adopted when resumed."""
    run_dir = Path(run_dir)
    if resume and (run_dir / checkpoint).is_file() and read_record(run_dir) is None:
        atomic_write_json(run_dir / RECORD, record.to_json())
    out = OutputFolder(run_dir, record, overwrite=overwrite, what=what)
    has_checkpoint = (out.path / checkpoint).is_file()
    if resume and not has_checkpoint:
        raise OutputConflict(f"{out.path}: no checkpoint ({checkpoint}) to resume from.",
                             "Start the run without --resume.")
    return out, has_checkpoint
