"""Long AIST work as a subprocess of the ``aist`` CLI: started with ``--progress jsonl``,
polled for its events (one JSON object per line: progress, log, metric, artifact, done; the
vocabulary of ``aist_app.api.events``), cancelled. No Blender imports and no AIST import
(the CLI runs in its own environment): the panel polls a :class:`Job` from a modal timer."""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import signal
import subprocess
import threading
from pathlib import Path

CLI_ENV = "AIST_CLI"


class CLINotFound(FileNotFoundError):
    pass


def find_cli(configured: str = "") -> str:
    """The ``aist`` executable: the add-on preference (the CLI itself or its environment
    folder), else ``$AIST_CLI``, else ``aist`` on the PATH."""
    for candidate in (configured, os.environ.get(CLI_ENV, "")):
        if not candidate:
            continue
        p = Path(candidate).expanduser()
        for exe in (p, p / "bin" / "aist", p / ".venv" / "bin" / "aist",
                    p / "Scripts" / "aist.exe"):
            if exe.is_file() and os.access(exe, os.X_OK):
                return str(exe)
        raise CLINotFound(f"the aist environment was not found at {p}: set the path of its "
                          "`aist` command (or its environment folder) in the add-on preferences")
    found = shutil.which("aist")
    if not found:
        raise CLINotFound("the aist environment was not found: install AIST (bash "
                          "scripts/demo.sh) and set the path of its `aist` command in the "
                          "add-on preferences")
    return found


def parse_event(line: str) -> dict | None:
    """One ``--progress jsonl`` line as its event (a dict with ``"event"``), else None
    (other output: the command's messages)."""
    line = line.strip()
    if not line.startswith("{"):
        return None
    try:
        event = json.loads(line)
    except ValueError:
        return None
    return event if isinstance(event, dict) and "event" in event else None


def progress_of(event: dict) -> float | None:
    """The fraction done a progress event reports (None when its total is unknown)."""
    if event.get("event") != "progress":
        return None
    done, total = event.get("done"), event.get("total")
    if not isinstance(done, int) or not isinstance(total, int) or total <= 0:
        return None
    return min(1.0, max(0.0, done / total))


class Job:
    """A running ``aist`` command; ``poll()`` is cheap and never blocks."""

    def __init__(self, args: list[str], *, label: str = "") -> None:
        """``args``: an ``aist`` command; ``--progress jsonl`` is added to it."""
        if "--progress" not in args:
            args = [*args, "--progress", "jsonl"]
        self.args = args
        self.label = label or " ".join(args[1:3])
        self.progress = 0.0
        self.lines: list[str] = []  # the command's messages
        self.events: list[dict] = []  # its events, in order
        self.message = ""  # the latest log line or item, for the status bar
        self._q: queue.Queue[str] = queue.Queue()
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     start_new_session=True)
        self._readers = [threading.Thread(target=self._read, args=(s,), daemon=True)
                         for s in (self.proc.stdout, self.proc.stderr)]
        for t in self._readers:
            t.start()
        self.cancelled = False

    def _read(self, stream) -> None:
        buf = b""
        while True:
            chunk = stream.read1(4096) if hasattr(stream, "read1") else stream.read(4096)
            if not chunk:
                break
            buf += chunk
            parts = re.split(rb"[\r\n]", buf)
            buf = parts.pop()
            for p in parts:
                if p.strip():
                    self._q.put(p.decode("utf-8", "replace"))
        if buf.strip():
            self._q.put(buf.decode("utf-8", "replace"))

    def poll(self) -> int | None:
        """Drain new output, update ``progress``; the exit code once finished, else None."""
        while True:
            try:
                line = self._q.get_nowait()
            except queue.Empty:
                break
            event = parse_event(line)
            if event is None:
                self.lines.append(line)
                continue
            self.events.append(event)
            frac = progress_of(event)
            if frac is not None:
                self.progress = frac
                if event.get("item"):
                    self.message = f"{event.get('unit', '')} {event['item']}".strip()
            elif event["event"] == "log":
                self.message = str(event.get("message", ""))
        code = self.proc.poll()
        if code is not None and not any(t.is_alive() for t in self._readers):
            return code
        return None

    def wait(self, timeout: float | None = None) -> int:
        self.proc.wait(timeout)
        for t in self._readers:
            t.join()
        code = self.poll()
        return self.proc.returncode if code is None else code

    def cancel(self) -> None:
        """Stop the command and its children (their outputs are written atomically: only
        completed items stay, an interrupted one leaves no partial file behind)."""
        self.cancelled = True
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)

    def error(self) -> str:
        """The most telling line of a failed command's output: its error event, else its
        error line."""
        for event in reversed(self.events):
            if event["event"] == "log" and event.get("level") == "error":
                return f"error: {event.get('message', '')}"
        for line in reversed(self.lines):
            if line.startswith("error:") or "Error" in line:
                return line
        return self.lines[-1] if self.lines else f"exit code {self.proc.returncode}"
