"""Commands that write or read datasets: info, render, segment, make-cars, import-dpc."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from aist_app.cli.common import (
    DEVICE_HELP,
    drive,
    fail,
    overwrite_option,
    parse_size,
    progress_option,
    runner,
    say,
)
from aist_app.cli.main import main
from aist_app.render.config import RenderConfig
from aist_app.segment.config import SegmentConfig

#: The CLI's defaults are the configs' (one place to change them).
_R, _S = RenderConfig(), SegmentConfig()


@main.command("info")
@click.argument("dataset", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--check", type=click.Choice(["meta", "full"]), default="full", show_default=True,
              help="How much to validate before summarizing.")
def info_cmd(dataset: Path, as_json: bool, check: str) -> None:
    """Validate a dataset and summarize it.

    \b
    Examples:
      aist info out/synthetic
      aist info out/synthetic --json --check meta
    """
    from aist_app.dataset import Dataset, DatasetError

    try:
        summary = Dataset.open(dataset, check=check).summary()
    except DatasetError as e:
        fail(str(e))
    if as_json:
        click.echo(json.dumps(summary, indent=2))
        return
    print_summary(summary)


def print_summary(summary: dict) -> None:
    for key, val in summary.items():
        if isinstance(val, dict):
            val = ", ".join(f"{k}={v}" for k, v in val.items())
        elif key == "image_size":
            val = "x".join(str(v) for v in val)
        elif isinstance(val, list):
            val = " .. ".join(str(v) for v in val) if len(val) == 2 else str(val)
        click.echo(f"{key + ':':<20} {val}")


def run_render(meshes: Path, out: Path, config, *, overwrite: bool = False):
    """Render through the stage runner with this invocation's progress; the summary."""
    return drive(runner().render(meshes, out, config, overwrite=overwrite),
                 f"render ({config.renderer})")


def render_options(f):
    opts = [
        click.option("--renderer", default=_R.renderer, show_default=True,
                     help="Renderer stage (see `aist plugins`)."),
        click.option("--views", default=_R.views, show_default=True, type=int,
                     help="Views per object (ignored when both dimensions are grids)."),
        click.option("--size", default=str(_R.image_size[0]), show_default=True,
                     callback=lambda c, p, v: parse_size(v), help="Image size: N or HxW."),
        click.option("--azimuth", default=_R.azimuth, show_default=True,
                     help="Azimuth distribution: A:B, grid:N, grid:a,b,.., normal:MU,SIGMA, "
                          "file:PATH."),
        click.option("--elevation", default=_R.elevation, show_default=True,
                     help="Elevation distribution (same forms as --azimuth), e.g. 0:40."),
        click.option("--seed", default=_R.seed, show_default=True, type=int,
                     help="Seed of viewpoints, lights and points (per object: seed + id)."),
        click.option("--points", default=_R.points, show_default=True, type=int,
                     help="Ground-truth surface points per object."),
        click.option("--depth/--no-depth", default=_R.depth, show_default=True,
                     help="Also write 16-bit depth maps."),
        click.option("--distance", default=_R.distance, show_default=True, type=float,
                     help="Camera distance from the object centre (object: bbox diagonal 1)."),
        click.option("--focal-length", default=_R.focal_length, show_default=True, type=float,
                     help="Focal length relative to the image width (pixels = value * W; "
                          "the reference's 1.875: 240 px at 128^2)."),
        click.option("--up-axis", type=click.Choice(["y", "z"]), default=_R.up_axis,
                     show_default=True,
                     help="Up axis of the meshes' frame."),
        click.option("--samples", default=_R.samples, show_default=True, type=int,
                     help="Path-tracing samples per pixel (blender)."),
        click.option("--random-lights/--fixed-lights", default=_R.randomize_lights,
                     show_default=True,
                     help="Random point lights per view, or one fixed set."),
        click.option("--allow-missing-textures", is_flag=True,
                     help="Render meshes whose textures are missing (flat colour) instead "
                          "of skipping them."),
        click.option("--device", default=_R.device, show_default=True,
                     help=DEVICE_HELP),
        click.option("--recycle-every", default=_R.recycle_every, show_default=True, type=int,
                     help="Reopen the renderer every N objects (bounds memory in very long "
                          "runs; 0: never)."),
        click.option("--splits", default=_R.splits, show_default=True,
                     help="Object splits: seeded train/val/test proportions (80/10/10; "
                          "32/4/12 cuts 48 objects exactly so), or 'reference' (DPC's car "
                          "lists where the ids match, the rest cut 5247:750:1500)."),
        click.option("--look", type=click.Choice(["as-is", "varied"]), default=_R.look,
                     show_default=True,
                     help="as-is: the meshes' own materials; varied: per object a random car "
                          "paint, dirt and sky light (blender only; cameras and lights stay "
                          "those of as-is): a target domain with ground truth."),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f




def render_config(**kw):
    from aist_app.render.pipeline import RenderConfig

    return RenderConfig(
        renderer=kw["renderer"], views=kw["views"], azimuth=kw["azimuth"],
        elevation=kw["elevation"], image_size=kw["size"], distance=kw["distance"],
        focal_length=kw["focal_length"], points=kw["points"], depth=kw["depth"],
        seed=kw["seed"], up_axis=kw["up_axis"], randomize_lights=kw["random_lights"],
        samples=kw["samples"], device=kw["device"],
        allow_missing_textures=kw["allow_missing_textures"],
        recycle_every=kw["recycle_every"], splits=kw["splits"], look=kw["look"],
    )


@main.command("render")
@click.argument("meshes", type=click.Path(exists=True, path_type=Path))
@click.argument("out", type=click.Path(path_type=Path))
@render_options
@click.option("--workers", default=1, show_default=True, type=click.IntRange(min=1),
              help="Render on a local pool of N processes (a farm job without a broker).")
@overwrite_option
@progress_option
def render_cmd(meshes: Path, out: Path, workers: int, overwrite: bool, **kw) -> None:
    """Render a mesh collection (ShapeNet v1/v2 layout or a folder of OBJ/GLB/PLY/STL) into
    a synthetic dataset at OUT. Objects already complete in OUT are skipped.

    \b
    Examples:
      aist render meshes/ out/synthetic --views 24 --elevation 0:40
      aist render ShapeNetCore.v1/02958343 out/cars --renderer blender --workers 4
    """
    if workers > 1:  # a farm job on a local pool: `aist farm submit --local`
        if overwrite:
            fail("--overwrite does not apply to --workers N (a farm job): use a new folder")
        ctx = click.get_current_context()
        farm = ctx.find_root().command.get_command(ctx, "farm")
        submit = farm.get_command(ctx, "submit") if isinstance(farm, click.Group) else None
        if submit is None:
            fail("--workers N runs a render-farm job, and no installed plugin adds `aist farm "
                 "submit` (the render farm, aist_farm): install it or leave out --workers")
        ctx.invoke(submit, meshes=meshes, out=out, broker=None, local=True, workers=workers,
                   **kw)
    config = render_config(**kw)
    summary = run_render(meshes, out, config, overwrite=overwrite)
    report_render(summary)
    if summary.failed or (not summary.rendered and not summary.skipped):
        sys.exit(1)  # docs/outputs.md: 1 when an object failed (the others are written)


def report_render(summary) -> None:
    say(f"dataset: {summary.out}")
    say(f"objects: {len(summary.rendered)} rendered, {len(summary.skipped)} already "
        f"complete, {len(summary.failed)} failed; {summary.views} views in "
        f"{summary.seconds:.1f} s")
    for f in summary.failed:
        say(f"  failed {f['object_id']} [{f['category']}]: {f['reason']}")


def _classes(value: str) -> tuple[str, ...]:
    classes = tuple(c.strip() for c in value.split(",") if c.strip())
    if not classes:
        raise click.BadParameter("give at least one class, e.g. car,truck")
    return classes


@main.command("segment")
@click.argument("photos", type=click.Path(exists=True, path_type=Path))
@click.argument("out", type=click.Path(path_type=Path))
@click.option("--synthetic", required=True, type=click.Path(exists=True, path_type=Path),
              help="Synthetic dataset: its image size and car-to-frame ratios are matched.")
@click.option("--segmenter", default=_S.segmenter, show_default=True,
              help="Segmenter stage: maskrcnn | deeplab-lite (see `aist plugins`).")
@click.option("--weights", help="Weights file (default: $AIST_WEIGHTS_DIR, the torch cache, "
                                "or the model bundled with the plugin).")
@click.option("--variant", help="Model variant (maskrcnn: v2 [default] or v1).")
@click.option("--classes", default=",".join(_S.classes), show_default=True,
              callback=lambda c, p, v: _classes(v), help="Classes to keep.")
@click.option("--min-score", default=_S.min_score, show_default=True, type=float,
              help="Minimum detection score of a kept instance.")
@click.option("--min-side", default=_S.min_side, show_default=True, type=float,
              help="Minimum sqrt(box area) in pixels.")
@click.option("--min-fill", default=_S.min_fill, show_default=True, type=float,
              help="Minimum mask area / box area.")
@click.option("--input-size", type=int, help="Network input size (plugin default).")
@click.option("--batch", "batch_size", default=_S.batch_size, show_default=True, type=int,
              help="Photos per network batch.")
@click.option("--device", default=_S.device, show_default=True, help=DEVICE_HELP)
@click.option("--seed", default=_S.seed, show_default=True, type=int,
              help="Seed of the train/test split by photo.")
@overwrite_option
@progress_option
def segment_cmd(photos: Path, out: Path, synthetic: Path, overwrite: bool, **kw) -> None:
    """Segment real photos into a `real` dataset of normalized RGBA cut-outs (every accepted
    instance of every photo), with a rejection summary and ratio histograms in OUT/report.

    \b
    Examples:
      aist segment photos/ out/real --synthetic out/synthetic
      aist segment photos/ out/real --synthetic out/synthetic --segmenter deeplab-lite
    """
    from aist_app.segment.pipeline import SegmentConfig

    config = SegmentConfig(**kw)
    summary = drive(runner().segment(photos, out, synthetic, config, overwrite=overwrite),
                    f"segment ({config.segmenter})")
    report_segment(summary)
    if summary.photos and not summary.accepted and not summary.resumed:
        sys.exit(1)


def report_segment(summary) -> None:
    rej = summary.rejections()
    say(f"dataset: {summary.out}")
    say(f"photos: {summary.photos} ({summary.resumed} already done); candidates: "
        f"{summary.candidates}; accepted: {len(summary.accepted)} in {summary.seconds:.1f} s")
    say("rejected candidates: " + ", ".join(f"{k}={v}" for k, v in
                                            rej["candidates"].items()))
    say("rejected photos: " + ", ".join(f"{k}={v}" for k, v in rej["photos"].items()))
    m = summary.ratio_model
    say(f"car-to-frame ratio: synthetic N({m.mean:.4f}, {m.std:.4f}) over {len(m.ratios)} "
        f"views; KS real vs synthetic before {summary.ks.get('ks_before', float('nan')):.3f}, "
        f"after {summary.ks.get('ks_after', float('nan')):.3f}")
    say(f"report: {summary.out / 'report'}")


@main.command("make-cars")
@click.argument("out", type=click.Path(path_type=Path))
@click.option("--count", default=40, show_default=True, type=int, help="Cars to write.")
@click.option("--seed", default=0, show_default=True, type=int,
              help="Seed of the shapes (the same seed writes the same cars).")
@click.option("--styles", default=None,
              help="Comma-separated body styles to cycle through (default: all of sedan, "
                   "hatchback, wagon, coupe, suv, pickup, van).")
def make_cars_cmd(out: Path, count: int, seed: int, styles: str | None) -> None:
    """Write seeded parametric cars (a stand-in for ShapeNet cars, which you bring yourself)
    as a ShapeNet-v2-style tree OUT/02958343/<id>/models/model_normalized.obj, with
    OUT/cars.json listing each car's style and proportions.

    \b
    Examples:
      aist make-cars cars/ --count 60
      aist make-cars cars/ --styles suv,pickup,van --seed 3
    """
    from tqdm import tqdm

    from aist_app.scene.cars import make_cars

    try:
        gen = make_cars(out, count, seed=seed,
                        styles=tuple(s.strip() for s in styles.split(",")) if styles else None)
        for _ in tqdm(range(count), unit="car", desc="make-cars", file=sys.stderr):
            next(gen)
        next(gen, None)
    except ValueError as e:
        fail(str(e))
    click.echo(f"{count} cars in {out / '02958343'} (list: {out / 'cars.json'})")


@main.command("import-dpc")
@click.argument("src", type=click.Path(exists=True, path_type=Path))
@click.argument("out", type=click.Path(path_type=Path))
@click.option("--gt", type=click.Path(exists=True, path_type=Path),
              help="Ground-truth folder (gt/downsampled): <synset>/<model>.mat.")
@click.option("--views", type=int, help="Use the first N renders per model (DPC: 5).")
@click.option("--size", default=None, help="Resize views to N or HxW (DPC trains at 128).")
@click.option("--focal-length", default=_R.focal_length, show_default=True, type=float,
              help="The renders' focal length relative to the width (DPC: 1.875, i.e. a 60 mm "
                   "lens on a 32 mm sensor).")
@click.option("--seed", default=0, show_default=True, type=int, help="Split seed.")
@overwrite_option
@progress_option
def import_dpc_cmd(src: Path, out: Path, gt, views, size, focal_length, seed,
                   overwrite) -> None:
    """Import the original DPC renders (render_k.png, camera_k.mat, depth_k.png) and ground
    truth into a synthetic dataset.

    \b
    Examples:
      aist import-dpc renders/ out/dpc --gt gt/downsampled --views 5 --size 128
    """
    from aist_app.dataset.dpc_import import DPCImportError, import_dpc

    gen = import_dpc(src, out, gt=gt, views=views, image_size=parse_size(size) if size else None,
                     focal_length=focal_length, seed=seed, overwrite=overwrite)
    summary = drive(runner().dataset_stage(gen, "synthetic", "import:dpc"), "import-dpc",
                    errors=(DPCImportError, ValueError))
    say(f"dataset: {out}")
    say(f"objects: {len(summary.imported)} imported, {len(summary.skipped)} already "
        f"complete, {len(summary.failed)} failed")
    for f in summary.failed:
        say(f"  failed {f['object_id']} [{f['category']}]: {f['reason']}")
    if not summary.imported and not summary.skipped:
        sys.exit(1)
