"""The ``aist`` command line."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from aist_app import __version__
from aist_app.doctor import STAGES as DOCTOR_STAGES  # stdlib only: cheap

DEVICE_HELP = "auto | cpu | cuda[:N] | mps; auto takes a GPU when torch sees one."


def _pm():
    from aist_app.plugins import create_plugin_manager

    return create_plugin_manager()


def _stage(kind: str, name: str):
    """The installed stage ``name`` of ``kind``, or a clear error listing what is there."""
    from aist_app.registry import StageNotFoundError

    try:
        return _pm().stage(kind, name)
    except StageNotFoundError as e:
        _fail(str(e))


def overwrite_option(f):
    return click.option(
        "--overwrite", is_flag=True,
        help="Replace what the output folder holds when another command or other settings "
             "made it (the old content stays until the new output is complete). Without it "
             "such a folder is refused; one made by the same command and settings resumes.")(f)


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
    """AIST: realistic renders of 3D models that keep their shape and pose annotations.

    Outputs: commands that write a dataset (render, segment, stylize, import-dpc) take it as
    the positional OUT; commands that write a run or a report (train-*, evaluate, reconstruct,
    experiment) take --out. Every output folder records what made it: running the same
    command again resumes it; a different command or other settings are refused before
    anything is written, unless --overwrite (which swaps the new output in once complete).
    --device everywhere: auto (a GPU when torch sees one), cpu, cuda[:N] or mps; a device
    that is not there is an error, never a silent fall back."""


@main.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def plugins_cmd(as_json: bool) -> None:
    """List installed stages (renderers, segmenters, stylizers, pose models).

    \b
    Examples:
      aist plugins
      aist plugins --json
    """
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


def _run_render(meshes: Path, out: Path, config, *, quiet: bool = False,
                overwrite: bool = False):
    from tqdm import tqdm

    from aist_app.meshes import discover
    from aist_app.render.pipeline import render_collection

    pm = _pm()
    stage = _stage("renderer", config.renderer)
    try:
        items = discover(meshes)
        config.sampler()  # validate the viewpoint specs before anything is written
    except (FileNotFoundError, ValueError) as e:
        _fail(str(e))
    if not items:
        _fail(f"{meshes}: no meshes found (ShapeNet layout or OBJ/GLB/PLY/STL/OFF files)")
    gen = render_collection(items, out, config, stage.factory, root=meshes, overwrite=overwrite)
    bar = tqdm(total=len(items), unit="obj", desc=f"render ({config.renderer})",
               disable=quiet or None, file=sys.stderr)
    summary = None
    try:
        while True:
            try:
                p = next(gen)
            except (ValueError, RuntimeError) as e:  # refused before anything was written
                bar.close()
                _fail(str(e))
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
        click.option("--seed", default=0, show_default=True, type=int,
                     help="Seed of viewpoints, lights and points (per object: seed + id)."),
        click.option("--points", default=100_000, show_default=True, type=int,
                     help="Ground-truth surface points per object."),
        click.option("--depth/--no-depth", default=False, show_default=True,
                     help="Also write 16-bit depth maps."),
        click.option("--distance", default=2.0, show_default=True, type=float,
                     help="Camera distance from the object centre (object: bbox diagonal 1)."),
        click.option("--focal-length", default=1.875, show_default=True, type=float,
                     help="Focal length relative to the image width (pixels = value * W; "
                          "the reference's 1.875: 240 px at 128^2)."),
        click.option("--up-axis", type=click.Choice(["y", "z"]), default="y", show_default=True,
                     help="Up axis of the meshes' frame."),
        click.option("--samples", default=16, show_default=True, type=int,
                     help="Path-tracing samples per pixel (blender)."),
        click.option("--random-lights/--fixed-lights", default=True, show_default=True,
                     help="Random point lights per view, or one fixed set."),
        click.option("--allow-missing-textures", is_flag=True,
                     help="Render meshes whose textures are missing (flat colour) instead "
                          "of skipping them."),
        click.option("--device", default="auto", show_default=True,
                     help=DEVICE_HELP),
        click.option("--recycle-every", default=0, show_default=True, type=int,
                     help="Reopen the renderer every N objects (bounds memory in very long "
                          "runs; 0: never)."),
        click.option("--splits", type=click.Choice(["80/10/10", "reference"]),
                     default="80/10/10", show_default=True,
                     help="Object splits: seeded 80/10/10, or the reference's (DPC's car "
                          "lists where the ids match, the rest cut 5247:750:1500)."),
        click.option("--look", type=click.Choice(["as-is", "varied"]), default="as-is",
                     show_default=True,
                     help="as-is: the meshes' own materials; varied: per object a random car "
                          "paint, dirt and sky light (blender only; cameras and lights stay "
                          "those of as-is): a target domain with ground truth."),
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
        recycle_every=kw["recycle_every"], splits=kw["splits"], look=kw["look"],
    )


@main.command("render")
@click.argument("meshes", type=click.Path(exists=True, path_type=Path))
@click.argument("out", type=click.Path(path_type=Path))
@render_options
@click.option("--workers", default=1, show_default=True, type=click.IntRange(min=1),
              help="Render on a local pool of N processes (a farm job without a broker).")
@overwrite_option
def render_cmd(meshes: Path, out: Path, workers: int, overwrite: bool, **kw) -> None:
    """Render a mesh collection (ShapeNet v1/v2 layout or a folder of OBJ/GLB/PLY/STL) into
    a synthetic dataset at OUT. Objects already complete in OUT are skipped.

    \b
    Examples:
      aist render meshes/ out/synthetic --views 24 --elevation 0:40
      aist render ShapeNetCore.v1/02958343 out/cars --renderer blender --workers 4
    """
    config = _config(**kw)
    if workers > 1:
        if overwrite:
            _fail("--overwrite does not apply to --workers N (a farm job): use a new folder")
        st = _run_local_job(meshes, out, config, workers=workers,
                            max_tasks_per_child=kw["recycle_every"])
        sys.exit(0 if st.done or not st.failed else 1)
    summary = _run_render(meshes, out, config, overwrite=overwrite)
    _report_render(summary)
    if not summary.rendered and not summary.skipped:
        sys.exit(1)


def _create_job(meshes: Path, out: Path, config, broker: str | None = None):
    from aist_app.meshes import discover
    from aist_app.registry import StageNotFoundError
    from aist_farm.job import Job, JobError

    try:
        _pm().stage("renderer", config.renderer)
        items = discover(meshes)
        config.sampler()
        if not items:
            _fail(f"{meshes}: no meshes found (ShapeNet layout or OBJ/GLB/PLY/STL/OFF files)")
        return Job.create(out, items, config, meshes, broker=broker)
    except (StageNotFoundError, FileNotFoundError, ValueError, JobError) as e:
        _fail(str(e))


def _run_local_job(meshes: Path, out: Path, config, *, workers: int,
                   max_tasks_per_child: int = 0, threads: int = 0):
    from tqdm import tqdm

    from aist_farm.local import LocalOptions, run_local

    job = _create_job(meshes, out, config)
    opts = LocalOptions(workers=workers, threads=threads,
                        max_tasks_per_child=max_tasks_per_child)
    st0 = job.status()
    bar = tqdm(total=st0.total, initial=len(st0.done) + len(st0.failed), unit="obj",
               desc=f"render ({config.renderer}, {workers} workers)", file=sys.stderr)
    gen = run_local(job, opts)
    try:
        while True:
            p = next(gen)
            if p.status in ("rendered", "skipped", "failed"):
                bar.update(1)
                bar.set_postfix_str(f"{p.object_id[:12]} {p.status}")
            if p.status != "rendered" and p.message:
                tqdm.write(f"{p.status} {p.object_id}: {p.message}", file=sys.stderr)
    except StopIteration as stop:
        st = stop.value
    finally:
        bar.close()
    _pm().dataset_written(out, "synthetic", {"written": len(st.done),
                                             "failed": len(st.failed)})
    click.echo(f"dataset: {out}")
    for f in st.failed:
        click.echo(f"  failed {f['object_id']} [{f['category']}]: {f['reason']}")
    click.echo(st.line())
    return st


def _report_render(summary) -> None:
    click.echo(f"dataset: {summary.out}")
    click.echo(f"objects: {len(summary.rendered)} rendered, {len(summary.skipped)} already "
               f"complete, {len(summary.failed)} failed; {summary.views} views in "
               f"{summary.seconds:.1f} s")
    for f in summary.failed:
        click.echo(f"  failed {f['object_id']} [{f['category']}]: {f['reason']}")


# -- segmenter ---------------------------------------------------------------------------------
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
@click.option("--segmenter", default="maskrcnn", show_default=True,
              help="Segmenter stage: maskrcnn | deeplab-lite (see `aist plugins`).")
@click.option("--weights", help="Weights file (default: $AIST_WEIGHTS_DIR, the torch cache, "
                                "or the model bundled with the plugin).")
@click.option("--variant", help="Model variant (maskrcnn: v2 [default] or v1).")
@click.option("--classes", default="car,truck", show_default=True,
              callback=lambda c, p, v: _classes(v), help="Classes to keep.")
@click.option("--min-score", default=0.7, show_default=True, type=float,
              help="Minimum detection score of a kept instance.")
@click.option("--min-side", default=128.0, show_default=True, type=float,
              help="Minimum sqrt(box area) in pixels.")
@click.option("--min-fill", default=0.5, show_default=True, type=float,
              help="Minimum mask area / box area.")
@click.option("--input-size", type=int, help="Network input size (plugin default).")
@click.option("--batch", "batch_size", default=2, show_default=True, type=int,
              help="Photos per network batch.")
@click.option("--device", default="auto", show_default=True, help=DEVICE_HELP)
@click.option("--seed", default=0, show_default=True, type=int,
              help="Seed of the train/test split by photo.")
@overwrite_option
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
    summary = _run_segment(photos, out, synthetic, config, overwrite=overwrite)
    _report_segment(summary)
    if summary.photos and not summary.accepted and not summary.resumed:
        sys.exit(1)


def _run_segment(photos: Path, out: Path, synthetic: Path, config, *, quiet: bool = False,
                 overwrite: bool = False):
    from tqdm import tqdm

    from aist_app.dataset import DatasetError
    from aist_app.segment.pipeline import segment_photos
    from aist_app.weights import WeightsNotFoundError

    pm = _pm()
    stage = _stage("segmenter", config.segmenter)
    try:
        gen = segment_photos(photos, out, synthetic, config, stage.factory,
                             overwrite=overwrite)
        bar = tqdm(unit="photo", desc=f"segment ({config.segmenter})", disable=quiet or None,
                   file=sys.stderr)
        try:
            while True:
                p = next(gen)
                bar.total = p.total
                bar.update(1)
                bar.set_postfix_str(f"{p.object_id[:16]} {p.message}")
                if p.status == "failed":
                    tqdm.write(f"skipped {p.message}", file=sys.stderr)
        finally:
            bar.close()
    except StopIteration as stop:
        summary = stop.value
    except (WeightsNotFoundError, DatasetError, FileNotFoundError, ValueError,
            RuntimeError) as e:
        _fail(str(e))
    pm.dataset_written(out, "real", summary.as_dict())
    return summary


def _report_segment(summary) -> None:
    rej = summary.rejections()
    click.echo(f"dataset: {summary.out}")
    click.echo(f"photos: {summary.photos} ({summary.resumed} already done); candidates: "
               f"{summary.candidates}; accepted: {len(summary.accepted)} in "
               f"{summary.seconds:.1f} s")
    click.echo("rejected candidates: " + ", ".join(f"{k}={v}" for k, v in
                                                   rej["candidates"].items()))
    click.echo("rejected photos: " + ", ".join(f"{k}={v}" for k, v in rej["photos"].items()))
    m = summary.ratio_model
    click.echo(f"car-to-frame ratio: synthetic N({m.mean:.4f}, {m.std:.4f}) over "
               f"{len(m.ratios)} views; KS real vs synthetic before "
               f"{summary.ks.get('ks_before', float('nan')):.3f}, after "
               f"{summary.ks.get('ks_after', float('nan')):.3f}")
    click.echo(f"report: {summary.out / 'report'}")


# -- stylizer ----------------------------------------------------------------------------------
@main.command("train-stylizer")
@click.option("--synthetic", type=click.Path(exists=True, path_type=Path),
              help="Synthetic dataset (domain X).")
@click.option("--real", type=click.Path(exists=True, path_type=Path),
              help="Real dataset (domain Y), e.g. from `aist segment`.")
@click.option("--out", type=click.Path(path_type=Path), help="Run folder.")
@click.option("--resume", "resume_run", type=click.Path(exists=True, path_type=Path),
              help="Continue this run from its last checkpoint (full state).")
@click.option("--stylizer", default="aist-cyclegan", show_default=True,
              help="Stylizer stage (see `aist plugins`).")
@click.option("--preset", default="constrained", show_default=True,
              help="Loss weights of the report's Table 6.1.",
              type=click.Choice(["constrained", "less-constrained", "cyclegan"]))
@click.option("--lambda-a", type=float, help="Cycle weight X->Y->X (default: the preset's).")
@click.option("--lambda-b", type=float, help="Cycle weight Y->X->Y (default: the preset's).")
@click.option("--lambda-idt", type=float,
              help="Identity weight, times lambda-a/b (default: the preset's).")
@click.option("--lambda-alpha", type=float, help="Alpha (mask) loss weight (default: the "
              "preset's).")
@click.option("--lambda-resdist", type=float,
              help="Feature-distance (ResDist) weight (default: the preset's).")
@click.option("--feature-net", default="resnet18", show_default=True,
              help="Feature network of ResDist and KID (efficientnet-lite0 works offline).",
              type=click.Choice(["resnet18", "efficientnet-lite0"]))
@click.option("--feature-weights", help="Weights file of the feature network.")
@click.option("--size", default=256, show_default=True, type=int,
              help="Network image size (views are padded/resized to it).")
@click.option("--batch", default=4, show_default=True, type=int, help="Images per step.")
@click.option("--epochs", default=44, show_default=True, type=int,
              help="Epochs over the larger domain (the report: 44).")
@click.option("--steps", type=int, help="Stop after N optimizer steps (smoke runs).")
@click.option("--lr", default=2e-4, show_default=True, type=float, help="Adam learning rate.")
@click.option("--decay-epochs", default=0, show_default=True, type=int,
              help="Linear lr decay to 0 over the last N epochs.")
@click.option("--clip-grad-value", type=float,
              help="Clip each gradient value to [-V, V] (the Unsup3D reproduction uses 5; "
                   "default: no clipping, as the report).")
@click.option("--clip-grad-norm", type=float,
              help="Clip the generators' and the discriminators' joint gradient norms to N "
                   "(default: no clipping).")
@click.option("--checkpoint-every", default=500, show_default=True, type=int,
              help="Steps between full-state checkpoints.")
@click.option("--sample-every", default=200, show_default=True, type=int,
              help="Steps between sample grids (RUN/samples).")
@click.option("--eval-every", default=500, show_default=True, type=int,
              help="Steps between mask-IoU and KID evaluations.")
@click.option("--amp", is_flag=True,
              help="bfloat16 autocast (float16 + gradient scaling on cards without bf16). "
                   "Default fp32, as the report; parity measured in docs/mixed-precision.md. "
                   "Slower on most CPUs.")
@click.option("--device", default="auto", show_default=True, help=DEVICE_HELP)
@click.option("--seed", default=0, show_default=True, type=int,
              help="Seed of initialization, batches and the history pool.")
@overwrite_option
def train_stylizer_cmd(synthetic, real, out, resume_run, stylizer, preset, feature_net,
                       feature_weights, amp, overwrite, **kw) -> None:
    """Train the AIST stylizer (synthetic -> real) with full-state checkpoints.

    \b
    Examples:
      aist train-stylizer --synthetic out/synthetic --real out/real --out runs/sty
      aist train-stylizer --resume runs/sty --steps 20000
    """

    from aist_app.stylize.checkpoint import CheckpointError
    from aist_app.stylize.config import StylizerConfig

    stage = _stage("stylizer", stylizer).factory
    try:
        if resume_run:
            from aist_app.stylize import checkpoint as ckpt_io

            ck = ckpt_io.load(resume_run)
            config = StylizerConfig.from_dict(ck["config"])
            if kw.get("steps"):
                config.steps = kw["steps"]
            config.device = kw["device"]  # this machine's, not the checkpoint's
            from aist_app.checkpoints import recorded_path

            synthetic, real = (recorded_path(ck, ck["data"][k]) for k in ("synthetic", "real"))
            out = resume_run
            trainer = stage.trainer(config, synthetic, real, out, resume=True)
            click.echo(f"resuming {out} at step {trainer.step} of {trainer.total}")
        else:
            if not (synthetic and real and out):
                _fail("give --synthetic, --real and --out (or --resume RUN)")
            lambdas = {k: kw.pop(k) for k in list(kw) if k.startswith("lambda_")}
            config = StylizerConfig.from_preset(
                preset, **lambdas, feature_net=feature_net, feature_weights=feature_weights,
                amp=amp, **kw)
            trainer = stage.trainer(config, synthetic, real, out, overwrite=overwrite)
    except (CheckpointError, FileNotFoundError, ValueError, RuntimeError) as e:
        _fail(str(e))
    if trainer.phi is not None:
        click.echo(f"feature network: {trainer.phi.name} ({trainer.phi.weights})")
    else:
        click.echo(f"feature network unavailable, KID metric off: {trainer.phi_error}")
    _drive_training(trainer.run(), trainer.total, trainer.step, "train-stylizer",
                    ("G", "D_X", "D_Y", "alpha", "resdist"), out)


def _drive_training(run, total: int, initial: int, desc: str, keys: tuple[str, ...],
                    out) -> None:
    """A progress bar with the chosen loss terms, validation lines, the final checkpoint."""
    from tqdm import tqdm

    bar = tqdm(total=total, initial=initial, unit="step", desc=desc, file=sys.stderr)
    last = None
    try:
        for p in run:
            if p.event == "step":
                bar.update(1)
                bar.set_postfix({k: f"{v:.3g}" for k, v in p.losses.items() if k in keys})
            elif p.event == "eval":
                tqdm.write(f"step {p.step}: " + ", ".join(f"{k}={v:.4f}"
                                                          for k, v in p.info.items()),
                           file=sys.stderr)
            elif p.event == "done":
                last = p.info["path"]
    finally:
        bar.close()
    click.echo(f"run: {out}\ncheckpoint: {last}")


@main.command("stylize")
@click.argument("run", type=click.Path(exists=True, path_type=Path))
@click.argument("dataset", type=click.Path(exists=True, path_type=Path))
@click.argument("out", type=click.Path(path_type=Path))
@click.option("--stylizer", default="aist-cyclegan", show_default=True,
              help="Stylizer stage (see `aist plugins`).")
@click.option("--batch", default=32, show_default=True, type=int, help="Views per batch.")
@click.option("--device", default="auto", show_default=True, help=DEVICE_HELP)
@overwrite_option
def stylize_cmd(run: Path, dataset: Path, out: Path, stylizer: str, batch: int,
                device: str, overwrite: bool) -> None:
    """Stylize a synthetic dataset with a trained stylizer (a run folder or a checkpoint):
    new RGB, the same masks, cameras and points.

    \b
    Examples:
      aist stylize runs/sty out/synthetic out/stylized
    """
    summary = _run_stylize(run, dataset, out, stylizer=stylizer, batch=batch, device=device,
                           overwrite=overwrite)
    click.echo(f"dataset: {summary.out}")
    click.echo(f"objects: {len(summary.written)} stylized, {len(summary.skipped)} already "
               f"complete; {summary.views} views in {summary.seconds:.1f} s")


def _run_stylize(run, dataset, out, *, stylizer="aist-cyclegan", batch=32, device="auto",
                 overwrite=False):
    from tqdm import tqdm

    from aist_app.dataset import DatasetError
    from aist_app.registry import StageNotFoundError
    from aist_app.stylize.checkpoint import CheckpointError

    try:
        stage = _pm().stage("stylizer", stylizer).factory
        gen = stage.stylize(run, dataset, out, batch=batch, device=device, overwrite=overwrite)
        bar = tqdm(unit="obj", desc="stylize", file=sys.stderr)
        try:
            while True:
                p = next(gen)
                bar.total = p.total
                bar.update(1)
        finally:
            bar.close()
    except StopIteration as stop:
        summary = stop.value
    except (StageNotFoundError, CheckpointError, DatasetError, ValueError, RuntimeError) as e:
        _fail(str(e))
    _pm().dataset_written(out, "stylized", summary.as_dict())
    return summary


# -- pose model ----------------------------------------------------------------------------------
@main.command("train-pose")
@click.argument("dataset", required=False, type=click.Path(exists=True, path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), help="Run folder.")
@click.option("--resume", "resume_run", type=click.Path(exists=True, path_type=Path),
              help="Continue this run from its last checkpoint (full state).")
@click.option("--model", "model_name", default="dpc", show_default=True,
              help="Pose-model stage (see `aist plugins`).")
@click.option("--steps", default=600_000, show_default=True, type=int,
              help="Training steps (the reference: 600k).")
@click.option("--batch-objects", default=8, show_default=True, type=int,
              help="Objects per batch.")
@click.option("--views-per-object", default=4, show_default=True, type=int,
              help="Views of each object per batch (the dataset needs at least as many).")
@click.option("--points", "num_points", default=8000, show_default=True, type=int,
              help="Points of each predicted shape.")
@click.option("--vox-size", default=64, show_default=True, type=int,
              help="Projection grid size (masks are resized to it).")
@click.option("--lr", default=1e-4, show_default=True, type=float, help="Adam learning rate.")
@click.option("--clip-grad", default=0.0, show_default=True, type=float,
              help="Gradient-norm clipping (0: off, as the reference).")
@click.option("--objective", default="reference", show_default=True,
              type=click.Choice(["reference", "all-pairs"]),
              help="reference: one view's shape per object projected with every view's "
                   "poses (DPC's model_pc.py); all-pairs: every view's shape with every "
                   "view's poses.")
@click.option("--checkpoint-every", default=5000, show_default=True, type=int,
              help="Steps between full-state checkpoints.")
@click.option("--val-every", default=1000, show_default=True, type=int,
              help="Steps between validation losses.")
@click.option("--amp", is_flag=True, help="bfloat16 autocast of the network (default fp32, "
              "as the reference; the projection stays fp32). See docs/mixed-precision.md.")
@click.option("--device", default="auto", show_default=True, help=DEVICE_HELP)
@click.option("--seed", default=0, show_default=True, type=int,
              help="Seed of initialization and batches.")
@overwrite_option
def train_pose_cmd(dataset, out, resume_run, model_name, amp, clip_grad, overwrite, **kw
                   ) -> None:
    """Train the unsupervised shape-and-pose model on a synthetic or stylized dataset.

    \b
    Examples:
      aist train-pose out/stylized --out runs/pose
      aist train-pose --resume runs/pose
    """

    from aist_app.pose.config import PoseConfig
    from aist_app.pose.train import PoseCheckpointError, load_checkpoint

    stage = _stage("pose_model", model_name).factory
    try:
        if resume_run:
            ck = load_checkpoint(resume_run)
            config = PoseConfig.from_dict(ck["config"])
            if kw["steps"] != 600_000:
                config.steps = kw["steps"]
            config.device = kw["device"]  # this machine's, not the checkpoint's
            from aist_app.checkpoints import recorded_path

            trainer = stage.trainer(config, recorded_path(ck, ck["dataset"]), resume_run,
                                    resume=True)
            out = resume_run
            click.echo(f"resuming {out} at step {trainer.step} of {config.steps}")
        else:
            if not (dataset and out):
                _fail("give DATASET and --out (or --resume RUN)")
            config = PoseConfig(amp=amp, clip_grad=clip_grad or None, **kw)
            trainer = stage.trainer(config, dataset, out, overwrite=overwrite)
    except (PoseCheckpointError, FileNotFoundError, ValueError, RuntimeError) as e:
        _fail(str(e))
    _drive_training(trainer.run(), config.steps, trainer.step, "train-pose",
                    ("projection", "student", "sigma"), out)


@main.command("evaluate")
@click.argument("run", type=click.Path(exists=True, path_type=Path))
@click.argument("test_sets", nargs=-1, required=True, type=click.Path(exists=True,
                                                                      path_type=Path))
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Report folder.")
@click.option("--model", "model_name", default="dpc", show_default=True,
              help="Pose-model stage (see `aist plugins`).")
@click.option("--split", type=click.Choice(["test", "all"]), default="test", show_default=True,
              help="Objects to evaluate in each set: its test split (an empty one is an "
                   "error), or all of them on purpose.")
@click.option("--device", default="auto", show_default=True, help=DEVICE_HELP)
@click.option("--refine", is_flag=True,
              help="Also report every set refined at test time by render-and-compare "
                   "(RenderNet supp. §1.2: silhouette + shape prior, grid restarts), as "
                   "<set>+refine beside it. Slow on a CPU: see bench/refine.py.")
@click.option("--refine-steps", type=int, default=2000, show_default=True,
              help="Refinement: optimizer steps at most (it stops on convergence).")
@click.option("--refine-azimuths", type=int, default=8, show_default=True,
              help="Refinement: azimuths of the restart grid (x 3 elevations, + the run's "
                   "own prediction).")
@overwrite_option
def evaluate_cmd(run: Path, test_sets, out: Path, model_name: str, split: str, device: str,
                 refine: bool, refine_steps: int, refine_azimuths: int,
                 overwrite: bool) -> None:
    """Evaluate a pose-model run: Chamfer and pose metrics on sets with ground truth (after
    the reference's alignment, and under the best single rotation, beside the chance
    baselines), the normalized mask XOR on every set; metrics.json/csv, per_view_<set>.csv
    (one row per view), plots and report.html in --out.

    \b
    Examples:
      aist evaluate runs/pose out/synthetic out/stylized out/real --out reports/pose
    """
    from aist_app.dataset import DatasetError
    from aist_app.pose.train import PoseCheckpointError
    from aist_app.registry import StageNotFoundError

    try:
        stage = _pm().stage("pose_model", model_name).factory
        kw = {}
        if refine or model_name == "refine":
            from aist_app.pose.refine import RefineConfig

            kw["refine"] = RefineConfig(steps=refine_steps, azimuths=refine_azimuths)
            kw["progress"] = lambda name, done, total: click.echo(
                f"refine {name}: {done}/{total}", err=True)
        metrics = stage.evaluate(run, list(test_sets), out, device=device, split=split,
                                 overwrite=overwrite, **kw)
    except (StageNotFoundError, PoseCheckpointError, DatasetError, ValueError,
            RuntimeError) as e:
        _fail(str(e))
    for name, m in metrics.items():
        click.echo(f"{name:24s} " + ", ".join(f"{k}={v:.3f}" for k, v in m.items()
                                             if isinstance(v, float)))
    click.echo(f"report: {out / 'report.html'}")


@main.command("reconstruct")
@click.argument("run", type=click.Path(exists=True, path_type=Path))
@click.argument("image", type=click.Path(exists=True, path_type=Path))
@click.option("--out", required=True, type=click.Path(path_type=Path),
              help="A .npz with points (N, 3), quaternion_wxyz, world_to_camera, focal_length.")
@click.option("--device", default="auto", show_default=True, help=DEVICE_HELP)
@click.option("--refine", is_flag=True,
              help="Refine the prediction by render-and-compare against the image's alpha "
                   "(RenderNet supp. §1.2; see aist evaluate --refine).")
@click.option("--refine-steps", type=int, default=2000, show_default=True,
              help="Refinement: optimizer steps at most.")
def reconstruct_cmd(run: Path, image: Path, out: Path, device: str, refine: bool,
                    refine_steps: int) -> None:
    """Predict the point cloud and camera of one view with a pose-model run (in the frame of
    its training data's ground truth).

    \b
    Examples:
      aist reconstruct runs/pose photo_view.png --out cloud.npz
    """
    from aist_app.pose.reconstruct import reconstruct
    from aist_app.pose.train import PoseCheckpointError

    click.echo("reconstruct: 0/1", err=True)
    try:
        cfg = None
        if refine:
            from aist_app.pose.refine import RefineConfig

            cfg = RefineConfig(steps=refine_steps)
        r = reconstruct(run, image, out, device=device, refine=cfg)
    except (PoseCheckpointError, ValueError, RuntimeError) as e:
        _fail(str(e))
    click.echo("reconstruct: 1/1", err=True)
    click.echo(f"points: {len(r['points'])}; pose (wxyz): "
               + ", ".join(f"{v:.3f}" for v in r["quaternion_wxyz"]))
    if "refine_loss" in r:
        click.echo(f"refined: objective {r['refine_loss_start']:.2f} -> {r['refine_loss']:.2f}")
    click.echo(f"saved: {out}")


@main.command("experiment")
@click.argument("config", required=False, type=click.Path(exists=True, path_type=Path))
@click.option("--out", required=True, type=click.Path(path_type=Path),
              help="Experiment folder (resumes stage by stage).")
@click.option("--preset", type=click.Choice(["small", "demo", "cpu", "full", "full-0to40"]),
              help="Without CONFIG, or to override its preset. small / demo: the pipeline "
                   "in minutes; cpu: learning you can see, under an hour on 2 cores (40 "
                   "generated cars, a ground-truthed target domain); full / full-0to40 need "
                   "--meshes and --photos.")
@click.option("--meshes", type=click.Path(exists=True, path_type=Path),
              help="Mesh collection (overrides [data] meshes).")
@click.option("--photos", type=click.Path(exists=True, path_type=Path),
              help="Folder of real photos (overrides [data] photos).")
@overwrite_option
@click.option("--dry-run", is_flag=True,
              help="Print the plan and run nothing: every stage, its steps, its GPU memory at "
                   "its batch size and the batch sizes that fit 8/12/24 GB cards, and its time "
                   "from a short measured run here.")
@click.option("--json", "as_json", is_flag=True, help="With --dry-run: the plan as JSON.")
def experiment_cmd(config: Path | None, out: Path, preset: str | None, meshes, photos,
                   overwrite: bool, dry_run: bool, as_json: bool) -> None:
    """The report's experiment: baseline vs AIST (constrained, less-constrained) pose models,
    each evaluated on the original, stylized and real test sets (and, with a [target]
    domain, on its held-out renders with ground truth). Resumable stage by stage: a
    stage whose config changed is redone (its old output replaced), the others are skipped.

    CONFIG is a TOML file; every key is optional and overrides the preset (small unless
    `preset` says otherwise). Sections and keys (all in docs/experiment-config.md):

    \b
      preset = "small" | "demo" | "cpu" | "full" | "full-0to40"
      seed = 0            device = "auto" | "cpu" | "cuda[:N]"
      [data]      meshes, photos (folders; full presets need both)
      [cars]      count (cpu preset without meshes: generated cars)
      [render]    views, size, elevation, renderer, splits
      [target]    renderer, look, views, samples, supersample (a target domain)
      [segment]   segmenter, min_side
      [stylizer]  variants (list of presets), size, batch, epochs | steps, feature_net
      [pose]      any train-pose setting: steps, batch_objects, views_per_object, lr, ...
      [evaluate]  split = "test" | "all", kid_seeds, bootstrap, refine, refine_config

    \b
    Examples:
      aist experiment --preset small --out runs/small
      aist experiment --preset cpu --out runs/cpu
      aist experiment --preset full --meshes ShapeNetCore.v1/02958343 --photos cars/ --out x
    """
    if dry_run:
        _plan_experiment(config, preset, meshes, photos, as_json)
        return
    html = _run_experiment(config, out, preset, meshes=meshes, photos=photos,
                           overwrite=overwrite)
    click.echo(f"report: {html}")


def _plan_experiment(config, preset, meshes, photos, as_json: bool) -> None:
    from aist_app.experiment import load_config
    from aist_app.plan import format_plan, make_plan, plan_json

    try:
        cfg = load_config(config, preset, meshes=meshes, photos=photos, require_data=False)
    except ValueError as e:
        _fail(str(e))
    objects = n_photos = None
    if cfg["data"].get("meshes"):
        from aist_app.meshes import discover

        objects = len(discover(cfg["data"]["meshes"]))
    if cfg["data"].get("photos"):
        from aist_app.segment.photos import discover_photos

        n_photos = len(discover_photos(cfg["data"]["photos"]))
    click.echo(f"plan of the {cfg['preset']} preset ({objects or 'the reference scale, 7497'} "
               f"objects, {n_photos or 0} photos); measuring...", err=True)
    plans = make_plan(cfg, objects=objects, photos=n_photos)
    click.echo(json.dumps(plan_json(plans), indent=2) if as_json else format_plan(plans))


def _run_experiment(config: Path | None, out: Path, preset: str | None, *,
                    meshes: Path | None = None, photos: Path | None = None,
                    overwrite: bool = False) -> Path:
    from aist_app.experiment import Experiment, load_config

    try:
        cfg = load_config(config, preset, meshes=meshes, photos=photos)
    except ValueError as e:
        _fail(str(e))
    try:
        gen = Experiment(cfg, out, overwrite=overwrite).run()
    except ValueError as e:
        _fail(str(e))
    while True:
        try:
            ev = next(gen)
        except StopIteration as stop:
            return stop.value
        except ValueError as e:  # a stage refused its input or output folder
            _fail(str(e))
        if ev.status in ("start", "done", "skipped") and ev.stage != "report":
            click.echo(f"[{ev.stage}] {ev.status} {ev.message}".rstrip(), err=True)


@main.command("gui")
@click.argument("path", required=False, type=click.Path(path_type=Path))
@click.option("--screenshot", type=click.Path(path_type=Path),
              help="Render the window to this PNG and exit (offscreen).")
@click.option("--page", type=click.Choice(["Browser", "3D view", "Stages", "Runs"]),
              help="With --screenshot: the page to show (default: the one PATH opens).")
@click.option("--select", default=0, show_default=True, type=int,
              help="With --screenshot: the view to select in the browser.")
def gui_cmd(path: Path | None, screenshot: Path | None, page: str | None, select: int) -> None:
    """The desktop app: browse datasets, run stages, look at runs and reconstructions.
    PATH is a dataset, or a stylizer/pose run or evaluation report.

    \b
    Examples:
      aist gui out/synthetic
      aist gui runs/pose --screenshot shot.png --page Runs
    """
    from aist_app.gui.app import run

    sys.exit(run(str(path) if path else None, screenshot=str(screenshot) if screenshot
                 else None, page=page, select=select))


# -- Blender add-on ------------------------------------------------------------------------------
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
    from aist_app.addon_package import build_addon

    try:
        files = build_addon(out)
    except (FileNotFoundError, ValueError) as e:
        _fail(str(e))
    click.echo(f"{out}: {len(files)} files ({', '.join(files)})")


# -- render farm -----------------------------------------------------------------------------
def _broker(value: str | None, job=None) -> str:
    import os

    from aist_farm.celery_app import BROKER_ENV

    url = value or os.environ.get(BROKER_ENV) or (job.broker if job is not None else None)
    if url and ":***@" in url:
        _fail(f"the job's broker needs a password: pass --broker or set ${BROKER_ENV}")
    return url


@main.group("farm")
def farm() -> None:
    """Render a collection as a job of per-object tasks: on Celery workers through a Redis
    broker, or on a local process pool when no broker is given. The job's manifest and task
    states live in OUT/.farm beside the dataset."""


@farm.command("submit")
@click.argument("meshes", type=click.Path(exists=True, path_type=Path))
@click.argument("out", type=click.Path(path_type=Path))
@click.option("--broker", help="redis://HOST:PORT/DB (default: $AIST_BROKER; none: run the "
                               "job here on a local pool).")
@click.option("--workers", default=0, type=int,
              help="Local pool size when there is no broker (default: CPU cores).")
@render_options
def farm_submit_cmd(meshes: Path, out: Path, broker: str | None, workers: int, **kw) -> None:
    """Create a render job (OUT/.farm/job.json lists every object with its seed) and queue a
    task per unfinished object.

    \b
    Examples:
      aist farm submit meshes/ /shared/out --broker redis://farm-host:6379/0
      aist farm submit meshes/ out/ds   # no broker: a local process pool
    """
    import os

    config = _config(**kw)
    url = _broker(broker)
    if not url:
        click.echo("no broker given: running the job on a local process pool", err=True)
        st = _run_local_job(meshes, out, config, workers=workers or os.cpu_count() or 1,
                            max_tasks_per_child=kw["recycle_every"])
        sys.exit(0 if not st.failed else 1)
    from aist_farm.celery_app import queue_name, submit
    from aist_farm.job import redact

    job = _create_job(meshes, out, config, broker=url)
    try:
        n = submit(job, url)
    except Exception as e:  # kombu raises OperationalError & co. when Redis is down
        _fail(f"cannot reach the broker at {redact(url)}: {e}")
    click.echo(f"job {job.job_id}: {n} tasks queued on {queue_name(config.renderer)} "
               f"({len(job.items)} objects; output {out})")
    click.echo(f"watch it with: aist farm status {out} --wait")


@farm.command("worker")
@click.option("--broker", help="redis://HOST:PORT/DB (default: $AIST_BROKER or "
                               "redis://127.0.0.1:6379/0).")
@click.option("--renderer", default="pyrender", show_default=True,
              help="Take the tasks of jobs rendered with this renderer.")
@click.option("--concurrency", "-c", default=1, show_default=True, type=int,
              help="Pool processes of this worker.")
@click.option("--gpu", type=int, help="Render on GPU N (default: the job's --device).")
@click.option("--threads", default=0, type=int,
              help="CPU threads per pool process (default: cores / concurrency).")
@click.option("--max-tasks-per-child", default=0, type=int,
              help="Replace a pool process after N tasks (default: never; 50 for blender).")
@click.option("--name", help="Worker name (Celery hostname), e.g. w1@%h.")
@click.option("--loglevel", default="INFO", show_default=True,
              help="Celery log level: DEBUG, INFO, WARNING or ERROR.")
def farm_worker_cmd(broker, renderer, concurrency, gpu, threads, max_tasks_per_child, name,
                    loglevel) -> None:
    """Start a Celery worker that renders tasks from the broker (Ctrl-C stops it; a task in
    progress then goes back to the queue).

    \b
    Examples:
      aist farm worker --broker redis://farm-host:6379/0 --concurrency 2
      aist farm worker --renderer blender --gpu 0
    """
    from aist_farm.celery_app import DEFAULT_BROKER, run_worker

    _stage("renderer", renderer)
    run_worker(_broker(broker) or DEFAULT_BROKER, renderer=renderer, concurrency=concurrency,
               gpu=gpu, threads=threads, max_tasks_per_child=max_tasks_per_child, name=name,
               loglevel=loglevel)


@farm.command("status")
@click.argument("out", type=click.Path(exists=True, path_type=Path))
@click.option("--wait", is_flag=True, help="Block until nothing is pending or running.")
@click.option("--timeout", default=0.0, type=float, help="With --wait: give up after S "
                                                           "seconds (exit 124).")
@click.option("--requeue-lost/--no-requeue-lost", default=True, show_default=True,
              help="With --wait: re-queue tasks whose worker died (each counts as an attempt; "
                   "workers do this too) through the job's broker.")
@click.option("--broker", help="For re-queueing (default: $AIST_BROKER or the job's).")
def farm_status_cmd(out: Path, wait: bool, timeout: float, requeue_lost: bool,
                    broker: str | None) -> None:
    """Show a job's progress; the last line is `done=N running=N pending=N failed=N`.

    \b
    Examples:
      aist farm status /shared/out --wait
    """
    import time

    from tqdm import tqdm

    from aist_farm.job import Job, JobError

    try:
        job = Job.load(out)
    except JobError as e:
        _fail(str(e))
    st = job.status()
    bar = tqdm(total=st.total, unit="obj", desc=f"job {job.job_id[:8]}", file=sys.stderr,
               disable=None if wait else True)
    start = time.monotonic()
    timed_out = False
    url = None
    if wait and requeue_lost and job.broker:
        import os

        from aist_farm.celery_app import BROKER_ENV

        url = broker or os.environ.get(BROKER_ENV) or job.broker
        url = None if ":***@" in url else url
    try:
        while True:
            st = job.status()
            bar.n = len(st.done) + len(st.failed)
            bar.set_postfix_str(st.line())
            if not wait or st.finished:
                break
            if st.lost and url:
                from aist_farm.celery_app import submit
                from aist_farm.tasks import requeue_lost as take_over_and_requeue

                for oid in take_over_and_requeue(job, lambda j, ids: submit(j, url, ids)):
                    tqdm.write(f"re-queued {oid} (its worker died)", file=sys.stderr)
            if timeout and time.monotonic() - start > timeout:
                timed_out = True
                break
            time.sleep(0.5)
    finally:
        bar.close()
    if st.finished:
        job.finalize_if_complete()
    if st.lost and not url:
        click.echo(f"{len(st.lost)} task(s) lost (their worker died): workers that worked on "
                   f"this job re-queue them within seconds; `aist farm retry {out}` does it now")
    for f in st.failed:
        click.echo(f"failed {f['object_id']} [{f['category']}]: {f['reason']}")
    click.echo(st.line())
    if timed_out:
        sys.exit(124)
    if wait and st.failed:
        sys.exit(1)


@farm.command("retry")
@click.argument("out", type=click.Path(exists=True, path_type=Path))
@click.option("--broker", help="default: $AIST_BROKER or the job's broker.")
@click.option("--all-pending", is_flag=True,
              help="Also re-queue pending tasks (e.g. after the broker lost its queue).")
def farm_retry_cmd(out: Path, broker: str | None, all_pending: bool) -> None:
    """Re-queue failed and lost tasks of a job (their failure counts start again).

    \b
    Examples:
      aist farm retry /shared/out
    """
    from aist_farm.celery_app import submit
    from aist_farm.job import Job, JobError

    try:
        job = Job.load(out)
    except JobError as e:
        _fail(str(e))
    st = job.status()
    ids = [f["object_id"] for f in st.failed] + list(st.lost)
    if all_pending:
        ids += [oid for oid in st.pending if oid not in ids]
    for oid in ids:
        job.reset(oid)
    job.unblock_workers()
    url = _broker(broker, job)
    if not url:
        _fail("no broker: pass --broker, set $AIST_BROKER, or re-run the local job with "
              "`aist render --workers N` (it resumes)")
    n = submit(job, url, ids) if ids else 0
    click.echo(f"re-queued {n} task(s)")
    click.echo(job.status().line())


@farm.command("broker")
@click.option("--port", default=6379, show_default=True, type=int, help="TCP port.")
@click.option("--bind", default="127.0.0.1", show_default=True,
              help="Address to listen on (loopback only unless you change it).")
@click.option("--dir", "data_dir", default=".aist-redis", show_default=True,
              type=click.Path(path_type=Path), help="Where Redis keeps its append-only file.")
@click.option("--password-env", default=None,
              help="Name of an environment variable holding a password to require.")
def farm_broker_cmd(port: int, bind: str, data_dir: Path, password_env: str | None) -> None:
    """Run a Redis broker for the farm in the foreground (persistent, loopback by default).

    \b
    Examples:
      aist farm broker --port 6379
      AIST_PW=secret aist farm broker --bind 0.0.0.0 --password-env AIST_PW
    """
    import os

    from aist_farm.broker import redis_command

    password = os.environ.get(password_env) if password_env else None
    if password_env and not password:
        _fail(f"${password_env} is empty")
    if bind not in ("127.0.0.1", "::1", "localhost") and not password:
        _fail(f"--bind {bind} exposes the broker beyond this machine: require a password "
              "(--password-env) and see render_farm/README.md for TLS")
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        cmd = redis_command(port, bind=bind, data_dir=data_dir, password=password)
    except FileNotFoundError as e:
        _fail(str(e))
    click.echo(f"redis broker on {bind}:{port}, data in {data_dir}", err=True)
    os.execv(cmd[0], cmd)


@main.command("doctor")
@click.option("--stage", type=click.Choice(["all", *DOCTOR_STAGES]),
              help="Check only what this stage needs, and exit 1 if any of it is missing "
                   "(default: check everything; exit 1 only when Python or the packages are "
                   "wrong; all: exit 1 when anything is missing).")
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
    from aist_app.doctor import STAGES, failing, run_checks, to_json

    only = None
    if stage and stage != "all":
        only = set(STAGES[stage])
    results = run_checks(out=out, broker=broker, only=only)
    if as_json:
        click.echo(to_json(results, stage))
    else:
        colours = {"ok": "green", "warn": "yellow", "missing": "red"}
        for c in results:
            click.echo(click.style(f"{c.status:<8}", fg=colours[c.status]) + f"{c.name:<28} "
                       f"{c.detail}")
            if c.fix and c.status != "ok":
                click.echo(f"{'':8}{'':28} fix: {c.fix}")
    bad = failing(results, stage)
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
    from aist_app.weights import KNOWN, weights_status

    rows = [weights_status(n) for n in KNOWN]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for r in rows:
        state = ("missing" if not r["present"] else "ok" if r["hash_ok"] else
                 "HASH MISMATCH" if r["hash_ok"] is False else "present")
        click.echo(f"{r['name']:<12} {state:<14} {r['path'] or r['file']}  ({r['what']})")


@weights_group.command("fetch")
@click.argument("names", nargs=-1, required=True)
def weights_fetch_cmd(names: tuple[str, ...]) -> None:
    """Download weights into the torch cache through torchvision (hash checked): NAMES are
    maskrcnn, maskrcnn-v1, resnet18.

    \b
    Examples:
      aist weights fetch maskrcnn resnet18
    """
    from aist_app.weights import fetch

    for name in names:
        try:
            path = fetch(name)
        except (ValueError, ConnectionError, RuntimeError) as e:
            _fail(str(e))
        click.echo(f"{name}: {path}")


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

    from aist_app.cars import make_cars

    try:
        gen = make_cars(out, count, seed=seed,
                        styles=tuple(s.strip() for s in styles.split(",")) if styles else None)
        for _ in tqdm(range(count), unit="car", desc="make-cars", file=sys.stderr):
            next(gen)
        next(gen, None)
    except ValueError as e:
        _fail(str(e))
    click.echo(f"{count} cars in {out / '02958343'} (list: {out / 'cars.json'})")


@main.command("import-dpc")
@click.argument("src", type=click.Path(exists=True, path_type=Path))
@click.argument("out", type=click.Path(path_type=Path))
@click.option("--gt", type=click.Path(exists=True, path_type=Path),
              help="Ground-truth folder (gt/downsampled): <synset>/<model>.mat.")
@click.option("--views", type=int, help="Use the first N renders per model (DPC: 5).")
@click.option("--size", default=None, help="Resize views to N or HxW (DPC trains at 128).")
@click.option("--focal-length", default=1.875, show_default=True, type=float,
              help="The renders' focal length relative to the width (DPC: 1.875, i.e. a 60 mm "
                   "lens on a 32 mm sensor).")
@click.option("--seed", default=0, show_default=True, type=int, help="Split seed.")
@overwrite_option
def import_dpc_cmd(src: Path, out: Path, gt, views, size, focal_length, seed,
                   overwrite) -> None:
    """Import the original DPC renders (render_k.png, camera_k.mat, depth_k.png) and ground
    truth into a synthetic dataset.

    \b
    Examples:
      aist import-dpc renders/ out/dpc --gt gt/downsampled --views 5 --size 128
    """
    from tqdm import tqdm

    from aist_app.dpc_import import DPCImportError, import_dpc

    gen = import_dpc(src, out, gt=gt, views=views, image_size=_size(size) if size else None,
                     focal_length=focal_length, seed=seed, overwrite=overwrite)
    bar = tqdm(unit="obj", desc="import-dpc", file=sys.stderr)
    try:
        while True:
            done, total, mid, status = next(gen)
            bar.total = total
            bar.update(1)
            bar.set_postfix_str(f"{mid[:12]} {status}")
    except StopIteration as stop:
        summary = stop.value
    except (DPCImportError, ValueError) as e:
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
@click.option("--out", default="aist-demo", show_default=True, type=click.Path(path_type=Path),
              help="Folder of every output of the demo.")
@click.option("--meshes", type=click.Path(exists=True, path_type=Path),
              help="Mesh collection (default: the bundled CC0 toy car).")
@click.option("--views", default=5, show_default=True, type=int, help="Views per object.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of every stage.")
def demo_cmd(out: Path, meshes: Path | None, views: int, seed: int) -> None:
    """Run every stage that exists end to end on the bundled sample data, on the CPU.

    \b
    Examples:
      aist demo
      aist demo --out /tmp/aist-demo
    """
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
    click.echo("\n== the AIST experiment, demo preset (the cpu preset shortened): generate 12 "
               "cars, render them flat (pyrender, the source) and in a varied look (Blender "
               "Cycles, the target, with ground truth), segment the bundled photos "
               "(deeplab-lite), train a stylizer source -> target (EfficientNet-Lite0 "
               "features), stylize, KID over 3 seeds, train baseline and AIST pose models, "
               "evaluate on source, stylized, target and real test sets ==")
    html = _run_experiment(None, out / "experiment", "demo")
    from aist_app.experiment import PIPELINE_ONLY

    click.echo(f"\n{PIPELINE_ONLY}")
    click.echo(f"\ndemo outputs are in {out.resolve()}")
    click.echo(f"experiment report: {html.resolve()}")


def _print_consistency(ds) -> None:
    from aist_app.consistency import check_dataset

    report = check_dataset(ds)
    click.echo(f"annotation consistency: min IoU {report['min_iou']:.3f}, mean "
               f"{report['mean_iou']:.3f} over {report['views']} views "
               f"(points projected with the saved cameras vs the rendered alpha)")


if __name__ == "__main__":
    main()
