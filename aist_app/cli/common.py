"""What every command shares: errors, options, the stage runner of this invocation and the
one loop that drives a stage's events to the terminal (a bar, JSON lines, or nothing)."""

from __future__ import annotations

import sys
import time
from collections.abc import Generator
from typing import Any

import click

DEVICE_HELP = "auto | cpu | cuda[:N] | mps; auto takes a GPU when torch sees one."
#: What a stage raises for bad input or a refused output folder (a clear message, exit 2).
USER_ERRORS = (ValueError, RuntimeError, OSError, LookupError)


def fail(message: str, code: int = 2) -> None:
    if progress_mode() == "jsonl":
        from aist_app.api.events import Log, dumps

        click.echo(dumps(Log(message, "error")))
    click.secho(f"error: {message}", fg="red", err=True)
    sys.exit(code)


def say(message: str = "") -> None:
    """A line for the user: stdout, or stderr under ``--progress jsonl`` (stdout is events)."""
    click.echo(message, err=progress_mode() == "jsonl")


def runner():
    """The stage runner of this invocation: ``ctx.obj`` when a caller injected one (tests
    register real toy plugins that way), else one built on the installed plugins."""
    return runner_of(click.get_current_context())


def runner_of(ctx: click.Context):
    """The stage runner of ``ctx``'s invocation (built once, on first use)."""
    from aist_app.stages.runner import StageRunner

    root = ctx.find_root()
    if not isinstance(root.obj, StageRunner):
        root.obj = StageRunner(root.obj)  # None, or an injected plugin manager
    return root.obj


def stage(kind: str, name: str):
    """The installed stage ``name`` of ``kind``, or a clear error listing what is there."""
    try:
        return runner().stage(kind, name)
    except LookupError as e:
        fail(str(e))


def parse_size(value: str) -> tuple[int, int]:
    try:
        parts = [int(v) for v in value.lower().replace("x", ",").split(",")]
    except ValueError:
        raise click.BadParameter(f"{value!r}: use N or HxW") from None
    if len(parts) == 1:
        parts *= 2
    if len(parts) != 2:
        raise click.BadParameter(f"{value!r}: use N or HxW")
    if min(parts) <= 0:
        raise click.BadParameter(f"{value!r}: the image size must be positive (N or HxW, "
                                 "e.g. 128 or 96x128)")
    return parts[0], parts[1]


def overwrite_option(f):
    return click.option(
        "--overwrite", is_flag=True,
        help="Replace what the output folder holds when another command or other settings "
             "made it (the old content stays until the new output is complete). Without it "
             "such a folder is refused; one made by the same command and settings resumes.")(f)


def _set_mode(ctx: click.Context, _param, value: str) -> str:
    ctx.find_root().meta["aist.progress"] = value
    return value


def progress_option(f):
    return click.option(
        "--progress", "progress", type=click.Choice(["bar", "jsonl", "none"]), default="bar",
        show_default=True, is_eager=True, expose_value=False, callback=_set_mode,
        help="bar: a progress bar on stderr; jsonl: one JSON event per line on stdout "
             "(progress, log, metric, artifact, done; docs/architecture.md), the messages "
             "on stderr; none: quiet.")(f)


def progress_mode() -> str:
    ctx = click.get_current_context(silent=True)
    return ctx.find_root().meta.get("aist.progress", "bar") if ctx else "bar"


def drive(events: Generator, desc: str, keys: tuple[str, ...] = (),
          errors: tuple[type[BaseException], ...] = USER_ERRORS) -> Any:
    """Run a stage's events to the end; returns its result. A user error (``errors``) ends
    the command with a clear message."""
    from aist_app.api.events import Artifact, Log, Metric, Progress, dumps

    mode = progress_mode()
    bar = None
    last_line = 0.0
    try:
        while True:
            try:
                ev = next(events)
            except StopIteration as stop:
                return stop.value
            if mode == "jsonl":
                # Steps are many: at most ~10 progress lines a second, and always the last.
                now = time.monotonic()
                if (not isinstance(ev, Progress) or now - last_line > 0.1
                        or ev.done == ev.total):
                    click.echo(dumps(ev))
                    last_line = now
                continue
            if mode == "none":
                continue
            if isinstance(ev, Progress):
                if bar is None:
                    from tqdm import tqdm

                    bar = tqdm(total=ev.total, unit=ev.unit, desc=desc, file=sys.stderr,
                               initial=max(0, ev.done - 1))
                bar.total = ev.total
                bar.n = ev.done
                if ev.values:
                    bar.set_postfix({k: f"{v:.3g}" for k, v in ev.values.items()
                                     if k in keys}, refresh=False)
                elif ev.item:
                    bar.set_postfix_str(f"{ev.item[:16]} {ev.status}".rstrip(), refresh=False)
                bar.refresh()
            elif isinstance(ev, Log) and ev.level == "stage":  # an experiment's stage
                if bar is not None:  # each stage gets its own bar, named after it
                    bar.close()
                    bar = None
                desc = ev.message[1:].split("]", 1)[0] if ev.message.startswith("[") \
                    else desc
                _write(None, ev.message)
            elif isinstance(ev, Log):  # notes on stdout; skipped items on stderr
                _write(bar, ev.message, err=ev.level != "info")
            elif isinstance(ev, Metric):
                _write(bar, f"step {ev.step}: " + ", ".join(
                    f"{k}={v:.4f}" for k, v in ev.values.items()))
            elif isinstance(ev, Artifact) and ev.kind == "dataset":
                pass  # the command's own summary names it
    except errors as e:
        if bar is not None:
            bar.close()
            bar = None
        fail(str(e))
    finally:
        if bar is not None:
            bar.close()


def _write(bar, line: str, err: bool = True) -> None:
    if bar is not None:
        bar.write(line, file=sys.stderr if err else sys.stdout)
    else:
        click.echo(line, err=err)
