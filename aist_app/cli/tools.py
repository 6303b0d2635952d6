"""Commands around the stages: plugins, gui, blender-addon, doctor, weights."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from aist_app.cli.common import fail, runner
from aist_app.cli.main import main


@main.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def plugins_cmd(as_json: bool) -> None:
    """List installed stages (renderers, segmenters, stylizers, pose models): each one's
    plugin and the module its code lives in.

    \b
    Examples:
      aist plugins
      aist plugins --json
    """
    stages = runner().pm.registry.list()
    if as_json:
        click.echo(json.dumps([s.as_dict() for s in stages], indent=2))
        return
    if not stages:
        click.echo("no stages installed")
    for s in stages:
        gpu = " (GPU)" if s.needs_gpu else ""
        click.echo(f"{s.kind:<10} {s.name:<16} {s.description}{gpu}  [{s.plugin}: "
                   f"{s.module}]")


@main.command("gui")
@click.argument("path", required=False, type=click.Path(path_type=Path))
@click.option("--screenshot", type=click.Path(path_type=Path),
              help="Render the window to this PNG and exit (offscreen).")
@click.option("--page", type=click.Choice(["Browser", "3D view", "Stages", "Runs", "Compare"]),
              help="With --screenshot: the page to show (default: the one PATH opens).")
@click.option("--select", default=0, show_default=True, type=int,
              help="With --screenshot: the view to select in the browser, or the row of "
                   "the Compare page's table.")
@click.option("--test-set", help="With --screenshot --page Compare: the test set to show "
                                 "(default: target when the experiment has one).")
@click.option("--size", "window_size", default="1280x800", show_default=True,
              help="With --screenshot: the window's size, WxH.")
@click.option("--pose-run", type=click.Path(exists=True, path_type=Path),
              help="A pose run whose predictions the Browser and the 3D view show beside "
                   "the ground truth (as Pose > Open run).")
def gui_cmd(path: Path | None, screenshot: Path | None, page: str | None, select: int,
            test_set: str | None, window_size: str, pose_run: Path | None) -> None:
    """The desktop app: browse datasets, run stages, look at runs and reconstructions.
    PATH is a dataset, or a stylizer/pose run or evaluation report.

    \b
    Examples:
      aist gui out/synthetic
      aist gui runs/pose --screenshot shot.png --page Runs
      aist gui exp --screenshot compare.png --page Compare --test-set target --select 3
    """
    from aist_app.gui.app import run

    if screenshot is not None:
        if screenshot.suffix.lower() != ".png":
            fail(f"--screenshot {screenshot}: expected a .png file name")
        if not screenshot.parent.is_dir():
            fail(f"--screenshot {screenshot}: its folder {screenshot.parent} does not exist")
    try:
        w, h = (int(v) for v in window_size.lower().split("x"))
    except ValueError:
        fail(f"--size {window_size!r}: use WxH, e.g. 1280x800")
    sys.exit(run(str(path) if path else None, screenshot=str(screenshot) if screenshot
                 else None, page=page, select=select, test_set=test_set, size=(w, h),
                 pose_run=str(pose_run) if pose_run else None))


@main.group("blender-addon")
def blender_addon() -> None:
    """The AIST Blender add-on (a Blender 4.2+ extension)."""


@blender_addon.command("build")
@click.argument("out", type=click.Path(path_type=Path))
def blender_addon_build_cmd(out: Path) -> None:
    """Build the installable extension zip (Blender: Preferences > Get Extensions > Install
    from Disk, or `blender --command extension install-file OUT.zip`).

    \b
    Examples:
      aist blender-addon build dist/aist_blender.zip
    """
    from aist_app.tools.addon_package import build_addon

    try:
        files = build_addon(out)
    except (FileNotFoundError, ValueError) as e:
        fail(str(e))
    click.echo(f"{out}: {len(files)} files ({', '.join(files)})")
@main.command("doctor")
@click.option("--stage", metavar="STAGE",
              help="Check only what this stage needs (core, stylize, pose, gui, disk and the "
                   "plugins' stages: render-pyrender, render-blender, segment-maskrcnn, "
                   "segment-deeplab, farm, ...), and exit 1 if any of it is missing (default: "
                   "check everything; exit 1 only when Python or the packages are wrong; all: "
                   "exit 1 when anything is missing).")
@click.option("--out", default=".", show_default=True, type=click.Path(path_type=Path),
              help="Output folder whose free disk space to check.")
@click.option("--broker", help="Broker URL to reach (default: $AIST_BROKER).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def doctor_cmd(stage: str | None, out: Path, broker: str | None, as_json: bool) -> None:
    """Check this machine for every stage: Python and packages against constraints.txt,
    torch devices and memory, EGL for pyrender, Blender Cycles devices, model weights (where,
    hash-checked), redis-server and the broker, the Qt platform, free disk space. Each line
    is ok / warn / missing, with how to fix it.

    \b
    Examples:
      aist doctor
      aist doctor --stage segment-maskrcnn --json
    """
    from aist_app.api.checks import DoctorOptions
    from aist_app.tools.doctor import checks_of, failing, needed, run_checks, to_json

    try:
        registry = checks_of(runner().pm)
        only = needed(registry, stage) if stage and stage != "all" else None
    except LookupError as e:
        fail(str(e))
    results = run_checks(registry, DoctorOptions(out=out, broker=broker), only)
    if as_json:
        click.echo(to_json(registry, results, stage))
    else:
        colours = {"ok": "green", "warn": "yellow", "missing": "red"}
        for c in results:
            click.echo(click.style(f"{c.status:<8}", fg=colours[c.status]) + f"{c.name:<28} "
                       f"{c.detail}")
            if c.fix and c.status != "ok":
                click.echo(f"{'':8}{'':28} fix: {c.fix}")
    bad = failing(registry, results, stage)
    if bad:
        if not as_json:
            click.echo(f"missing for {stage or 'the core'}: {', '.join(c.name for c in bad)}",
                       err=True)
        sys.exit(1)


@main.group("weights")
def weights_group() -> None:
    """Model weights: what is on this machine, and an explicit download for users with
    internet (runs never download)."""


@weights_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def weights_list_cmd(as_json: bool) -> None:
    """The weights AIST knows: present or missing, where, and whether the hash matches.

    \b
    Examples:
      aist weights list
      aist weights list --json
    """
    weights = runner().pm.weights()
    rows = [weights.status(n) for n in weights.names()]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for r in rows:
        state = ("missing" if not r["present"] else "ok" if r["hash_ok"] else
                 "HASH MISMATCH" if r["hash_ok"] is False else
                 "bundled" if r["source"] == "bundled" else "present")
        click.echo(f"{r['name']:<19} {state:<14} {r['path'] or r['file']}  ({r['what']})")


@weights_group.command("fetch")
@click.argument("names", nargs=-1, required=True)
def weights_fetch_cmd(names: tuple[str, ...]) -> None:
    """Download weights into the torch cache through torchvision (hash checked): NAMES as
    `aist weights list` shows them (maskrcnn, maskrcnn-v1, resnet18, and the plugins').

    \b
    Examples:
      aist weights fetch maskrcnn resnet18
    """
    weights = runner().pm.weights()
    for name in names:
        try:
            path = weights.fetch(name)
        except (ValueError, ConnectionError, RuntimeError) as e:
            fail(str(e))
        click.echo(f"{name}: {path}")


