"""The ``aist`` command line."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from aist_app import __version__


def _pm():
    from aist_app.plugins import create_plugin_manager

    return create_plugin_manager()


def _fail(message: str, code: int = 2) -> None:
    click.secho(f"error: {message}", fg="red", err=True)
    sys.exit(code)


def _size(value: str) -> tuple[int, int]:
    try:
        parts = [int(v) for v in value.lower().replace("x", ",").split(",")]
    except ValueError:
        raise click.BadParameter(f"{value!r}: use N or HxW") from None
    if len(parts) == 1:
        parts *= 2
    if len(parts) != 2 or min(parts) <= 0:
        raise click.BadParameter(f"{value!r}: use N or HxW")
    return parts[0], parts[1]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="aist")
def main() -> None:
    """AIST: realistic renders of 3D models that keep their shape and pose annotations."""


@main.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def plugins_cmd(as_json: bool) -> None:
    """List installed stages (renderers, segmenters, stylizers, pose models)."""
    stages = _pm().registry.list()
    if as_json:
        click.echo(json.dumps([s.as_dict() for s in stages], indent=2))
        return
    if not stages:
        click.echo("no stages installed")
    for s in stages:
        gpu = " (GPU)" if s.needs_gpu else ""
        click.echo(f"{s.kind:<10} {s.name:<16} {s.description}{gpu}  [{s.plugin}]")


@main.command("info")
@click.argument("dataset", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--check", type=click.Choice(["meta", "full"]), default="full", show_default=True,
              help="How much to validate before summarizing.")
def info_cmd(dataset: Path, as_json: bool, check: str) -> None:
    """Validate a dataset and summarize it."""
    from aist_app.dataset import Dataset, DatasetError

    try:
        summary = Dataset.open(dataset, check=check).summary()
    except DatasetError as e:
        _fail(str(e))
    if as_json:
        click.echo(json.dumps(summary, indent=2))
        return
    _print_summary(summary)


def _print_summary(summary: dict) -> None:
    for key, val in summary.items():
        if isinstance(val, dict):
            val = ", ".join(f"{k}={v}" for k, v in val.items())
        elif key == "image_size":
            val = "x".join(str(v) for v in val)
        elif isinstance(val, list):
            val = " .. ".join(str(v) for v in val) if len(val) == 2 else str(val)
        click.echo(f"{key + ':':<20} {val}")


def _run_render(meshes: Path, out: Path, config, *, quiet: bool = False):
    from tqdm import tqdm

    from aist_app.meshes import discover
    from aist_app.registry import StageNotFoundError
    from aist_app.render.pipeline import render_collection

    pm = _pm()
    try:
        stage = pm.stage("renderer", config.renderer)
    except StageNotFoundError as e:
        _fail(str(e))
    try:
        items = discover(meshes)
        config.sampler()  # validate the viewpoint specs before anything is written
    except (FileNotFoundError, ValueError) as e:
        _fail(str(e))
    if not items:
        _fail(f"{meshes}: no meshes found (ShapeNet layout or OBJ/GLB/PLY/STL/OFF files)")
    gen = render_collection(items, out, config, stage.factory, root=meshes)
    bar = tqdm(total=len(items), unit="obj", desc=f"render ({config.renderer})",
               disable=quiet or None, file=sys.stderr)
    summary = None
    try:
        while True:
            p = next(gen)
            bar.update(1)
            bar.set_postfix_str(f"{p.object_id[:12]} {p.status}")
            if p.status == "failed":
                tqdm.write(f"skipped {p.object_id}: {p.message}", file=sys.stderr)
    except StopIteration as stop:
        summary = stop.value
    finally:
        bar.close()
    pm.dataset_written(out, "synthetic", summary.as_dict())
    return summary


def render_options(f):
    opts = [
        click.option("--renderer", default="pyrender", show_default=True,
                     help="Renderer stage (see `aist plugins`)."),
        click.option("--views", default=5, show_default=True, type=int,
                     help="Views per object (ignored when both dimensions are grids)."),
        click.option("--size", default="128", show_default=True, callback=lambda c, p, v: _size(v),
                     help="Image size: N or HxW."),
        click.option("--azimuth", default="0:360", show_default=True,
                     help="Azimuth distribution: A:B, grid:N, grid:a,b,.., normal:MU,SIGMA, "
                          "file:PATH."),
        click.option("--elevation", default="-20:40", show_default=True,
                     help="Elevation distribution (same forms as --azimuth), e.g. 0:40."),
        click.option("--seed", default=0, show_default=True, type=int),
        click.option("--points", default=100_000, show_default=True, type=int,
                     help="Ground-truth surface points per object."),
        click.option("--depth/--no-depth", default=False, show_default=True,
                     help="Also write 16-bit depth maps."),
        click.option("--distance", default=2.0, show_default=True, type=float),
        click.option("--focal-length", default=1.875, show_default=True, type=float,
                     help="Normalized focal length (pixels = value * min(H, W) / 2)."),
        click.option("--up-axis", type=click.Choice(["y", "z"]), default="y", show_default=True,
                     help="Up axis of the meshes' frame."),
        click.option("--samples", default=16, show_default=True, type=int,
                     help="Path-tracing samples per pixel (blender)."),
        click.option("--random-lights/--fixed-lights", default=True, show_default=True),
        click.option("--allow-missing-textures", is_flag=True,
                     help="Render meshes whose textures are missing (flat colour) instead "
                          "of skipping them."),
        click.option("--device", default="auto", show_default=True,
                     help="auto | cpu | cuda[:N]."),
        click.option("--recycle-every", default=0, show_default=True, type=int,
                     help="Reopen the renderer every N objects (bounds memory in very long "
                          "runs; 0: never)."),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


def _config(**kw):
    from aist_app.render.pipeline import RenderConfig

    return RenderConfig(
        renderer=kw["renderer"], views=kw["views"], azimuth=kw["azimuth"],
        elevation=kw["elevation"], image_size=kw["size"], distance=kw["distance"],
        focal_length=kw["focal_length"], points=kw["points"], depth=kw["depth"],
        seed=kw["seed"], up_axis=kw["up_axis"], randomize_lights=kw["random_lights"],
        samples=kw["samples"], device=kw["device"],
        allow_missing_textures=kw["allow_missing_textures"],
        recycle_every=kw["recycle_every"],
    )


@main.command("render")
@click.argument("meshes", type=click.Path(exists=True, path_type=Path))
@click.argument("out", type=click.Path(path_type=Path))
@render_options
def render_cmd(meshes: Path, out: Path, **kw) -> None:
    """Render a mesh collection (ShapeNet v1/v2 layout or a folder of OBJ/GLB/PLY/STL) into
    a synthetic dataset at OUT. Objects already complete in OUT are skipped."""
    summary = _run_render(meshes, out, _config(**kw))
    _report_render(summary)
    if not summary.rendered and not summary.skipped:
        sys.exit(1)


def _report_render(summary) -> None:
    click.echo(f"dataset: {summary.out}")
    click.echo(f"objects: {len(summary.rendered)} rendered, {len(summary.skipped)} already "
               f"complete, {len(summary.failed)} failed; {summary.views} views in "
               f"{summary.seconds:.1f} s")
    for f in summary.failed:
        click.echo(f"  failed {f['object_id']} [{f['category']}]: {f['reason']}")


@main.command("import-dpc")
@click.argument("src", type=click.Path(exists=True, path_type=Path))
@click.argument("out", type=click.Path(path_type=Path))
@click.option("--gt", type=click.Path(exists=True, path_type=Path),
              help="Ground-truth folder (gt/downsampled): <synset>/<model>.mat.")
@click.option("--views", type=int, help="Use the first N renders per model (DPC: 5).")
@click.option("--size", default=None, help="Resize views to N or HxW (DPC trains at 128).")
@click.option("--focal-length", default=1.875, show_default=True, type=float)
@click.option("--seed", default=0, show_default=True, type=int, help="Split seed.")
def import_dpc_cmd(src: Path, out: Path, gt, views, size, focal_length, seed) -> None:
    """Import the original DPC renders (render_k.png, camera_k.mat, depth_k.png) and ground
    truth into a synthetic dataset."""
    from tqdm import tqdm

    from aist_app.dpc_import import DPCImportError, import_dpc

    gen = import_dpc(src, out, gt=gt, views=views, image_size=_size(size) if size else None,
                     focal_length=focal_length, seed=seed)
    bar = tqdm(unit="obj", desc="import-dpc", file=sys.stderr)
    try:
        while True:
            done, total, mid, status = next(gen)
            bar.total = total
            bar.update(1)
            bar.set_postfix_str(f"{mid[:12]} {status}")
    except StopIteration as stop:
        summary = stop.value
    except DPCImportError as e:
        bar.close()
        _fail(str(e))
    bar.close()
    _pm().dataset_written(out, "synthetic", {"written": len(summary.imported)})
    click.echo(f"dataset: {out}")
    click.echo(f"objects: {len(summary.imported)} imported, {len(summary.skipped)} already "
               f"complete, {len(summary.failed)} failed")
    for f in summary.failed:
        click.echo(f"  failed {f['object_id']} [{f['category']}]: {f['reason']}")
    if not summary.imported and not summary.skipped:
        sys.exit(1)


@main.command("demo")
@click.option("--out", default="aist-demo", show_default=True, type=click.Path(path_type=Path))
@click.option("--meshes", type=click.Path(exists=True, path_type=Path),
              help="Mesh collection (default: the bundled CC0 toy car).")
@click.option("--views", default=5, show_default=True, type=int)
@click.option("--seed", default=0, show_default=True, type=int)
def demo_cmd(out: Path, meshes: Path | None, views: int, seed: int) -> None:
    """Run every stage that exists end to end on the bundled sample data, on the CPU."""
    from aist_app.dataset import Dataset
    from aist_app.render.pipeline import RenderConfig
    from aist_app.samples import sample_meshes

    meshes = meshes or sample_meshes()
    click.echo(f"AIST {__version__} demo: meshes from {meshes}")
    for renderer in ("pyrender", "blender"):
        target = out / f"synthetic-{renderer}"
        cfg = RenderConfig(renderer=renderer, views=views, elevation="0:40", seed=seed,
                           device="cpu", depth=True)
        click.echo(f"\n== render with {renderer} (elevation 0:40, {views} views, 128x128) ==")
        summary = _run_render(meshes, target, cfg)
        _report_render(summary)
        ds = Dataset.open(target)
        _print_summary(ds.summary())
        _print_consistency(ds)
    click.echo(f"\ndemo outputs are in {out.resolve()}")


def _print_consistency(ds) -> None:
    from aist_app.consistency import check_dataset

    report = check_dataset(ds)
    click.echo(f"annotation consistency: min IoU {report['min_iou']:.3f}, mean "
               f"{report['mean_iou']:.3f} over {report['views']} views "
               f"(points projected with the saved cameras vs the rendered alpha)")


if __name__ == "__main__":
    main()
