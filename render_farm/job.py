"""A render job on disk: the manifest and the state of every task, kept beside the output.

Inside the dataset folder ``OUT``::

    .farm/job.json              manifest: job id, renderer config, every object with its mesh
                                and seed (written once, atomically)
    .farm/running/<oid>.json    claim of the process rendering the object; its mtime is the
                                heartbeat
    .farm/attempts/<oid>.jsonl  failed attempts so far (one JSON line each, appended)
    .farm/failed/<oid>.json     final failure: category, reason, attempts
    .farm/workers/<name>.jsonl  task failures per worker (three block it from this job)

An object is done when ``objects/<oid>/`` exists: the dataset writer publishes it atomically.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from aist_app import __version__
from aist_app.common.io_utils import atomic_write_json
from aist_app.common.outputs import (
    RECORD,
    OutputConflict,
    OutputFolder,
    folder_identity,
    read_record,
)
from aist_app.common.paths import UnsafePath, check_name, lexically_inside
from aist_app.dataset.writer import DatasetWriter
from aist_app.render.pipeline import RenderConfig, dataset_writer, object_seed, render_record
from aist_app.scene.meshes import MeshItem

FORMAT = "aist-render-job"
MAX_ATTEMPTS = 3  # a task failing this many times is failed (Flamenco's rule)
MAX_WORKER_FAILURES = 3  # a worker failing this many tasks of a job stops taking them
HEARTBEAT_S = 5.0
LEASE_S = 60.0  # a claim from another machine not refreshed for this long is lost


def _check_items(items: list[MeshItem], meshes: str, where: Path) -> None:
    """Every object id of a manifest a plain name, every mesh path under the job's mesh
    root (a manifest is read from disk: trusted no more than a message)."""
    for it in items:
        check_name(it.object_id, "object id", where)
        if not (lexically_inside(it.path, meshes)
                or lexically_inside(Path(it.path).resolve(), meshes)):
            raise UnsafePath(f"{where}: mesh {str(it.path)!r} of object {it.object_id!r} "
                             f"lies outside the job's meshes {meshes}")


class JobError(Exception):
    """A job manifest that is missing, malformed or does not match the request."""


def redact(url: str | None) -> str | None:
    """The broker URL without its password (manifests and logs never hold secrets)."""
    if not url:
        return url
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def _host() -> str:
    return socket.gethostname()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (killed, not yet reaped) is dead
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def _read_jsonl(path: Path) -> list[dict]:
    """Lines of an append-only log; a torn last line (crash mid-append) is ignored."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return []
    out = []
    for line in text.splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


def _append_jsonl(path: Path, record: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = (json.dumps(record, sort_keys=True) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o666)  # less the umask
    try:
        os.write(fd, data)  # one write of one short line: appends do not interleave
        os.fsync(fd)
    finally:
        os.close(fd)


# The same shape as the other stages' records on purpose, not one class: each record's
# field names are its stage's words in the CLI and the events (rendered,
# imported; a farm job's done/running/pending), which readers already parse.
@dataclass
class JobStatus:
    total: int
    done: list[str] = field(default_factory=list)
    running: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)
    failed: list[dict] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)  # claimed by a worker that died (pending)

    @property
    def finished(self) -> bool:
        return not self.running and not self.pending

    def line(self) -> str:
        return (f"done={len(self.done)} running={len(self.running)} "
                f"pending={len(self.pending)} failed={len(self.failed)}")


@dataclass
class Job:
    """A render job: what to render (manifest) and where each task stands (files)."""

    root: Path
    job_id: str
    config: RenderConfig
    meshes: str
    items: list[MeshItem]
    broker: str | None = None

    # -- manifest ------------------------------------------------------------------------
    @property
    def farm_dir(self) -> Path:
        return self.root / ".farm"

    @property
    def manifest_path(self) -> Path:
        return self.farm_dir / "job.json"

    def item(self, oid: str) -> MeshItem:
        for it in self.items:
            if it.object_id == oid:
                return it
        raise JobError(f"{self.manifest_path}: no object {oid!r} in this job")

    def settled(self) -> bool:
        """Whether every task may be done or failed, by a cheap check (two directory
        listings, not a stat and claim read per object)."""
        def count(folder: Path, suffix: str = "") -> int:
            try:
                return sum(1 for e in os.scandir(folder)
                           if not e.name.startswith(".") and e.name.endswith(suffix))
            except FileNotFoundError:
                return 0

        return count(self.root / "objects") + count(self.farm_dir / "failed",
                                                      ".json") >= len(self.items)

    def maybe_finalize(self) -> bool:
        """:meth:`finalize_if_complete` once :meth:`settled`: tasks call this after each
        object, so a job of N objects costs O(N) per task only at its very end."""
        return self.settled() and self.finalize_if_complete()

    def announce(self, runner=None):
        """Fire ``aist_dataset_written`` for the finished dataset once per job, whoever
        finishes it (a task on any worker, the local pool, ``farm status``): the first
        caller creates ``.farm/announced``. Returns the runner's artifact event, or None
        when the dataset is not complete or was announced already."""
        if not (self.root / "dataset.json").exists():
            return None
        marker = self.farm_dir / "announced"
        try:
            os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return None
        try:
            if runner is None:
                from aist_app.stages.runner import StageRunner

                runner = StageRunner()
            st = self.status()
            return runner.dataset_written(self.root, "synthetic", {
                "written": len(st.done), "failed": len(st.failed), "job_id": self.job_id})
        except BaseException:
            marker.unlink(missing_ok=True)  # a later finisher tries again
            raise

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "job_id": self.job_id,
            "aist_version": __version__,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "meshes": self.meshes,
            "broker": redact(self.broker),
            "config": self.config.as_dict(),
            "objects": [
                {**it.as_dict(),
                 "seed": [self.config.seed, int(object_seed(self.config.seed,
                                                            it.object_id).entropy[1])]}
                for it in self.items
            ],
        }

    @classmethod
    def create(cls, out: str | Path, items: list[MeshItem], config: RenderConfig,
               meshes: str | Path, *, broker: str | None = None) -> Job:
        """A new job at ``out``, or the one already there when it asks for the same render
        (resuming); a different job in the same folder is refused. Mesh paths are recorded
        absolute: workers run in other folders and on other machines."""
        out = Path(out).absolute()
        items = [MeshItem(i.object_id, Path(i.path).expanduser().absolute(), i.layout, i.synset)
                 for i in items]
        meshes = folder_identity(meshes)
        job = cls(out, uuid.uuid4().hex, config, meshes, items, broker)
        if job.manifest_path.exists():
            old = cls.load(out)
            same = (old.config.as_dict() == config.as_dict()
                    and [i.as_dict() for i in old.items] == [i.as_dict() for i in items])
            if not same:
                raise JobError(f"{old.manifest_path}: {out} already holds a different render "
                               "job (other meshes or options); use a new output folder")
            old.broker = broker or old.broker
            if read_record(out) is None:  # a job made before output records
                atomic_write_json(out / RECORD, render_record(old.config, old.meshes).to_json())
            return old
        try:  # the output-folder contract: a folder holding anything else is refused
            OutputFolder(out, render_record(config, meshes), what="render job")
        except OutputConflict as e:
            raise JobError(f"{e.reason}\nUse a new output folder.") from None
        atomic_write_json(job.manifest_path, job.to_json())
        return job

    @classmethod
    def load(cls, out: str | Path) -> Job:
        out = Path(out)
        path = out / ".farm" / "job.json"
        try:
            meta = json.loads(path.read_text())
        except FileNotFoundError:
            raise JobError(f"{path}: no render job here (create one with `aist farm submit` "
                           "or `aist render --workers N`)") from None
        except (OSError, json.JSONDecodeError) as e:
            raise JobError(f"{path}: unreadable job manifest: {e}") from None
        if meta.get("format") != FORMAT:
            raise JobError(f"{path}: not an AIST render job (format {meta.get('format')!r})")
        try:
            cfg = dict(meta["config"])
            cfg["image_size"] = tuple(cfg["image_size"])
            config = RenderConfig(**cfg)
            items = [MeshItem(o["object_id"], Path(o["path"]), o["layout"], o.get("synset"))
                     for o in meta["objects"]]
            _check_items(items, meta["meshes"], path)
            return cls(out, meta["job_id"], config, meta["meshes"], items, meta.get("broker"))
        except (KeyError, TypeError) as e:
            raise JobError(f"{path}: malformed job manifest ({e})") from None
        except UnsafePath as e:
            raise JobError(str(e)) from None

    def check_id(self, oid: object) -> str:
        """``oid`` if it is one of this job's objects (a task message's id is never joined
        into a path before this), else :class:`JobError`."""
        if not isinstance(oid, str) or oid not in {it.object_id for it in self.items}:
            raise JobError(f"{self.manifest_path}: no object {oid!r} in this job (a task "
                           "message of another job, or a crafted one)")
        return oid

    def writer(self, *, clean_stale: bool = False) -> DatasetWriter:
        """The job's dataset writer; it never takes the folder's write lock (workers and
        finalizers share the folder by design)."""
        return dataset_writer(self.root, self.config, self.items, self.meshes,
                              clean_stale=clean_stale, lock=False)

    # -- task state ----------------------------------------------------------------------
    def _state(self, kind: str, oid: str, suffix: str = ".json") -> Path:
        return self.farm_dir / kind / f"{oid}{suffix}"

    def is_done(self, oid: str) -> bool:
        return (self.root / "objects" / oid).is_dir()

    def failure(self, oid: str) -> dict | None:
        try:
            return json.loads(self._state("failed", oid).read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    def read_claim(self, oid: str) -> dict | None:
        path = self._state("running", oid)
        try:
            claim = json.loads(path.read_text())
            claim["heartbeat"] = path.stat().st_mtime
            return claim
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    @staticmethod
    def claim_alive(claim: dict) -> bool:
        if claim.get("host") == _host():
            return _pid_alive(int(claim.get("pid", -1)))
        return time.time() - claim.get("heartbeat", 0.0) < LEASE_S

    @contextmanager
    def claim(self, oid: str, worker: str) -> Iterator[None]:
        """Mark ``oid`` as being rendered by this process, with a heartbeat, until the block
        ends."""
        path = self._state("running", oid)
        atomic_write_json(path, {"worker": worker, "host": _host(), "pid": os.getpid(),
                                 "started": time.time()})
        stop = threading.Event()

        def beat() -> None:
            while not stop.wait(HEARTBEAT_S):
                try:
                    os.utime(path)
                except FileNotFoundError:
                    return

        thread = threading.Thread(target=beat, name=f"aist-heartbeat-{oid}", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()
            path.unlink(missing_ok=True)

    def lost_claims(self) -> list[str]:
        """Objects whose claim belongs to a dead worker (a listing of ``running/`` only, cheap
        enough to poll)."""
        lost = []
        try:
            names = [e.name for e in os.scandir(self.farm_dir / "running")
                     if e.name.endswith(".json") and not e.name.startswith(".")]
        except FileNotFoundError:
            return []
        for name in names:
            oid = name[:-5]
            claim = self.read_claim(oid)
            if claim is not None and not self.claim_alive(claim) and not self.is_done(oid):
                lost.append(oid)
        return lost

    def take_over_lost(self, oid: str) -> bool:
        """Take a dead worker's claim on ``oid`` away (atomically: of several callers, one
        wins), record the lost attempt, and say whether the task should be queued again
        (False: not lost, taken by another caller, or failed after its last attempt)."""
        claim = self.read_claim(oid)
        if claim is None or self.claim_alive(claim):
            return False
        path = self._state("running", oid)
        aside = path.with_name(f".{oid}.lost-{uuid.uuid4().hex[:8]}")
        try:
            os.rename(path, aside)
        except FileNotFoundError:
            return False  # another caller took it
        try:
            moved = json.loads(aside.read_text())
        except (OSError, json.JSONDecodeError):
            moved = {}
        if (moved.get("pid"), moved.get("started")) != (claim.get("pid"), claim.get("started")):
            os.rename(aside, path)  # a live claim was written in between: leave it
            return False
        aside.unlink(missing_ok=True)
        return self.count_lost(oid, claim, "; re-queued")

    def count_lost(self, oid: str, claim: dict, note: str = "") -> bool:
        """Record a dead worker's claim on ``oid`` as a failed attempt; False when that was
        the last allowed one (the task is then failed)."""
        n = self.record_attempt(oid, claim.get("worker", "?"), "worker-lost",
                                f"worker {claim.get('worker')} (pid {claim.get('pid')} on "
                                f"{claim.get('host')}) stopped while rendering{note}")
        if n >= MAX_ATTEMPTS:
            self.mark_failed(oid, "worker-lost",
                             f"lost {n} times: the renderer crashes or is killed on it")
            self.maybe_finalize()
            return False
        return True

    def attempts(self, oid: str) -> list[dict]:
        return _read_jsonl(self._state("attempts", oid, ".jsonl"))

    def record_attempt(self, oid: str, worker: str, category: str, reason: str,
                       traceback: str = "") -> int:
        """Log one failed attempt; returns how many there have been."""
        _append_jsonl(self._state("attempts", oid, ".jsonl"),
                      {"worker": worker, "host": _host(), "time": time.time(),
                       "category": category, "reason": reason, "traceback": traceback})
        return len(self.attempts(oid))

    def mark_failed(self, oid: str, category: str, reason: str) -> None:
        item = self.item(oid)
        atomic_write_json(self._state("failed", oid), {
            "object_id": oid, "path": str(item.path), "category": category, "reason": reason,
            "attempts": self.attempts(oid),
        })

    def record_worker_failure(self, worker: str, oid: str, reason: str) -> None:
        _append_jsonl(self._state("workers", worker, ".jsonl"),
                      {"object_id": oid, "time": time.time(), "reason": reason})

    def worker_blocked(self, worker: str) -> bool:
        failures = _read_jsonl(self._state("workers", worker, ".jsonl"))
        return len({f["object_id"] for f in failures}) >= MAX_WORKER_FAILURES

    def reset(self, oid: str) -> None:
        (self.farm_dir / "announced").unlink(missing_ok=True)  # announced again when done
        """Forget a task's failures and a dead claim so it can run again (``farm retry``)."""
        for kind, suffix in (("failed", ".json"), ("attempts", ".jsonl")):
            self._state(kind, oid, suffix).unlink(missing_ok=True)
        claim = self.read_claim(oid)
        if claim is not None and not self.claim_alive(claim):
            self._state("running", oid).unlink(missing_ok=True)

    def unblock_workers(self) -> None:
        for p in (self.farm_dir / "workers").glob("*.jsonl"):
            p.unlink(missing_ok=True)

    def status(self) -> JobStatus:
        st = JobStatus(total=len(self.items))
        for it in self.items:
            oid = it.object_id
            if self.is_done(oid):
                st.done.append(oid)
                continue
            fail = self.failure(oid)
            if fail is not None:
                st.failed.append(fail)
                continue
            claim = self.read_claim(oid)
            if claim is None:
                st.pending.append(oid)
            elif self.claim_alive(claim):
                st.running.append(oid)
            else:
                st.pending.append(oid)
                st.lost.append(oid)
        return st

    def finalize_if_complete(self) -> bool:
        """Write ``dataset.json`` once every task is done or failed (idempotent: any worker,
        or ``farm status``, may do it; the content is the same)."""
        st = self.status()
        if not st.finished:
            return False
        path = self.root / "dataset.json"
        fails = sorted(st.failed, key=lambda f: f["object_id"])
        if path.exists():
            try:
                meta = json.loads(path.read_text())
                written = meta["source"].get("failures", [])
                listed = {o for split in meta["splits"].values() for o in split}
                if listed == set(st.done) and [f["object_id"] for f in written] == [
                        f["object_id"] for f in fails]:
                    return True
            except (OSError, json.JSONDecodeError, KeyError):
                pass
        writer = self.writer(clean_stale=True)  # nothing is running: leftovers are stale
        try:
            summary = {"written": len(st.done), "failed": len(fails), "job_id": self.job_id}
            failures = [{k: f[k] for k in ("object_id", "path", "category", "reason")}
                        for f in fails]
            from aist_app.dataset.splits import split_objects

            writer.finalize(splits=split_objects(writer.complete_ids(), self.config.splits,
                                                 seed=self.config.seed),
                            source={"failures": failures, "summary": summary})
        finally:
            writer.close()
        return True
