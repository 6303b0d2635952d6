"""Long AIST work as a subprocess of the ``aist`` CLI: started, polled for progress from its
output, cancelled. No Blender imports: the panel polls a :class:`Job` from a modal timer."""

from __future__ import annotations

import os
import queue
import re
import shutil
import signal
import subprocess
import threading
from pathlib import Path

CLI_ENV = "AIST_CLI"
_PROGRESS = re.compile(r"(\d+)/(\d+)")


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


def parse_progress(text: str) -> float | None:
    """The last ``done/total`` in a chunk of progress-bar output, as a fraction."""
    hits = _PROGRESS.findall(text)
    for done, total in reversed(hits):
        if int(total) > 0:
            return min(1.0, int(done) / int(total))
    return None


class Job:
    """A running ``aist`` command; ``poll()`` is cheap and never blocks."""

    def __init__(self, args: list[str], *, label: str = "") -> None:
        self.args = args
        self.label = label or " ".join(args[1:3])
        self.progress = 0.0
        self.lines: list[str] = []
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
            self.lines.append(line)
            frac = parse_progress(line)
            if frac is not None:
                self.progress = frac
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
        """The most telling line of a failed command's output."""
        for line in reversed(self.lines):
            if line.startswith("error:") or "Error" in line:
                return line
        return self.lines[-1] if self.lines else f"exit code {self.proc.returncode}"
