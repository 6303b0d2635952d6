"""Commands of the learned stages: train-stylizer, stylize, train-pose, evaluate,
reconstruct. The stage (``--stylizer``, ``--model``) is any installed plugin of its kind;
its options default to its config dataclass's values, and ``--set KEY=VALUE`` sets any field
of it."""

from __future__ import annotations

from pathlib import Path

import click

from aist_app.cli.common import (
    DEVICE_HELP,
    USER_ERRORS,
    drive,
    fail,
    overwrite_option,
    progress_option,
    runner,
    say,
)
from aist_app.cli.main import main
from aist_app.cli.stage_options import StageCommand
from aist_app.common.devices import DEFAULT_DEVICE


def _default_stage(kind: str) -> str:
    """The installed stage of ``kind`` that declares itself its kind's default."""
    try:
        return runner().default_stage(kind)
    except LookupError as e:
        fail(str(e))


def set_option(example: str):
    """``--set KEY=VALUE`` with an ``example`` that is a field of the stage's config (the
    help's example runs)."""
    def deco(f):
        return click.option(
            "--set", "settings", multiple=True, metavar="KEY=VALUE",
            help="Set any field of the stage's config dataclass (repeatable), e.g. --set "
                 f"{example}; an unknown key is an error.")(f)
    return deco


def make_config(cls: type, options: dict, settings: tuple[str, ...], preset=None):
    """The stage's config: its preset (``preset(name)``, a stage with presets: the ``preset``
    option, else its default one), the options given on the command line that are fields of
    it, then ``--set``; strict (an option of another plugin is an error)."""
    from aist_app.api.config import from_mapping, parse_settings

    given = {k: v for k, v in options.items() if v is not None}
    fields_ = {f for f in cls.__dataclass_fields__}
    not_fields = sorted(k for k in given if k not in fields_)
    if not_fields:
        raise ValueError(f"{', '.join('--' + k.replace('_', '-') for k in not_fields)}: not "
                         f"a setting of this stage ({cls.__name__})")
    base = preset(given.pop("preset", None)) if preset is not None else None
    config = from_mapping(cls, given, "options", base=base)
    return from_mapping(cls, parse_settings(settings), "--set", base=config)


@main.command("train-stylizer", cls=StageCommand, kind="stylizer")
@click.option("--synthetic", type=click.Path(exists=True, path_type=Path),
              help="Synthetic dataset (domain X).")
@click.option("--real", type=click.Path(exists=True, path_type=Path),
              help="Real dataset (domain Y), e.g. from `aist segment`.")
@click.option("--out", type=click.Path(path_type=Path), help="Run folder.")
@click.option("--resume", "resume_run", type=click.Path(exists=True, path_type=Path),
              help="Continue this run from its last checkpoint (full state).")
@click.option("--stylizer", help="Stylizer stage (see `aist plugins`; default: the installed "
                                 "stylizers' default, aist-cyclegan when it is installed).")
@click.option("--device", default=DEFAULT_DEVICE, show_default=True, help=DEVICE_HELP)
@click.option("--seed", type=int, help="Seed of initialization, batches and sampling "
              "(default: 0).")
@set_option("pool_size=20")
@overwrite_option
@progress_option
def train_stylizer_cmd(synthetic, real, out, resume_run, stylizer, settings, overwrite,
                       **kw) -> None:
    """Train a stylizer (synthetic -> real) with full-state checkpoints.

    \b
    Examples:
      aist train-stylizer --synthetic out/synthetic --real out/real --out runs/sty
      aist train-stylizer --resume runs/sty --steps 20000
    """
    if not resume_run and not (synthetic and real and out):
        fail("give --synthetic, --real and --out (or --resume RUN)")
    stylizer = stylizer or _default_stage("stylizer")
    _train("stylizer", stylizer, resume_run, kw, settings,
           lambda r, config: r.train_stylizer(stylizer, config, synthetic, real, out,
                                              overwrite=overwrite), out)


def _train(kind: str, plugin: str, resume_run, options: dict, settings, start, out) -> None:
    """Train a stylizer or a pose model through the runner: ``--resume RUN`` continues its
    run, else ``start(runner, config)`` with the config the options make."""
    r = runner()
    _known(r, kind, plugin)
    keys = r.stage(kind, plugin).factory.progress_keys
    try:
        if resume_run:
            events = r.resume(kind, plugin, resume_run, steps=options.get("steps"),
                              device=options["device"])
            out = resume_run
        else:
            events = start(r, make_config(r.config_class(kind, plugin), options, settings,
                                          r.stage(kind, plugin).factory.config_preset))
    except USER_ERRORS as e:
        fail(str(e))
    last = drive(events, "train-stylizer" if kind == "stylizer" else "train-pose", keys)
    say(f"run: {out}\ncheckpoint: {last}")


def _given(*names: str) -> bool:
    """Whether the user gave any of these options (not their defaults)."""
    ctx = click.get_current_context()
    return any(ctx.get_parameter_source(n) not in (None, click.core.ParameterSource.DEFAULT)
               for n in names)


def _stylizer_of(run: Path) -> str:
    """The stylizer that trained ``run`` (its output record), else the default one."""
    from aist_app.common.outputs import read_record

    run = Path(run)
    record = read_record(run if run.is_dir() else run.parent.parent) or {}
    return record.get("plugin") if record.get("stage") == "train-stylizer" and \
        record.get("plugin") else _default_stage("stylizer")


def _pose_model(r, run: Path, name: str | None) -> str:
    """The pose model for ``run``: ``name``, else the one that trained it; a folder that is
    not a pose run (a stylizer run, a dataset) is refused with what it is."""
    try:
        made = r.pose_plugin(run)
    except (LookupError, ValueError) as e:
        fail(str(e))
    name = name or made
    _known(r, "pose_model", name)
    return name


def _known(r, kind: str, name: str) -> bool:
    try:
        r.stage(kind, name)
    except LookupError as e:
        fail(str(e))
    return True


@main.command("stylize")
@click.argument("run", type=click.Path(exists=True, path_type=Path))
@click.argument("dataset", type=click.Path(exists=True, path_type=Path))
@click.argument("out", type=click.Path(path_type=Path))
@click.option("--stylizer", help="Stylizer stage (see `aist plugins`; default: the one that "
                                 "trained RUN).")
@click.option("--batch", default=32, show_default=True, type=int, help="Views per batch.")
@click.option("--device", default=DEFAULT_DEVICE, show_default=True, help=DEVICE_HELP)
@overwrite_option
@progress_option
def stylize_cmd(run: Path, dataset: Path, out: Path, stylizer: str, batch: int,
                device: str, overwrite: bool) -> None:
    """Stylize a synthetic dataset with a trained stylizer (a run folder or a checkpoint):
    new RGB, the same masks, cameras and points.

    \b
    Examples:
      aist stylize runs/sty out/synthetic out/stylized
    """
    summary = run_stylize(run, dataset, out, stylizer=stylizer, batch=batch, device=device,
                          overwrite=overwrite)
    say(f"dataset: {summary.out}")
    say(f"objects: {len(summary.written)} stylized, {len(summary.skipped)} already "
        f"complete; {summary.views} views in {summary.seconds:.1f} s")


def run_stylize(run, dataset, out, *, stylizer=None, batch=32, device="auto",
                overwrite=False):
    stylizer = stylizer or _stylizer_of(run)
    _known(runner(), "stylizer", stylizer)
    return drive(runner().stylize(stylizer, run, dataset, out, batch=batch, device=device,
                                  overwrite=overwrite), "stylize")


@main.command("train-pose", cls=StageCommand, kind="pose_model")
@click.argument("dataset", required=False, type=click.Path(exists=True, path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), help="Run folder.")
@click.option("--resume", "resume_run", type=click.Path(exists=True, path_type=Path),
              help="Continue this run from its last checkpoint (full state).")
@click.option("--model", "model_name",
              help="Pose-model stage (see `aist plugins`; default: the installed pose models' "
                   "default, dpc when it is installed).")
@click.option("--device", default=DEFAULT_DEVICE, show_default=True, help=DEVICE_HELP)
@click.option("--seed", type=int, help="Seed of initialization and batches (default: 0).")
@set_option("sigma_end=0.5")
@overwrite_option
@progress_option
def train_pose_cmd(dataset, out, resume_run, model_name, settings, overwrite, **kw) -> None:
    """Train a shape-and-pose model on a synthetic or stylized dataset.

    \b
    Examples:
      aist train-pose out/stylized --out runs/pose
      aist train-pose --resume runs/pose
    """
    if not resume_run and not (dataset and out):
        fail("give DATASET and --out (or --resume RUN)")
    model_name = model_name or _default_stage("pose_model")
    _train("pose_model", model_name, resume_run, kw, settings,
           lambda r, config: r.train_pose(model_name, config, dataset, out,
                                          overwrite=overwrite), out)


@main.command("evaluate")
@click.argument("run", type=click.Path(exists=True, path_type=Path))
@click.argument("test_sets", nargs=-1, required=True, type=click.Path(exists=True,
                                                                      path_type=Path))
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Report folder.")
@click.option("--model", "model_name",
              help="Pose-model stage (see `aist plugins`) [default: the one that trained "
                   "RUN].")
@click.option("--split", type=click.Choice(["test", "all"]), default="test", show_default=True,
              help="Objects to evaluate in each set: its test split (an empty one is an "
                   "error), or all of them on purpose.")
@click.option("--device", default=DEFAULT_DEVICE, show_default=True, help=DEVICE_HELP)
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
@progress_option
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
    r = runner()
    model_name = _pose_model(r, run, model_name)
    kw = {}
    if refine or _given("refine_steps", "refine_azimuths"):  # refinement settings
        kw["refine"] = {"steps": refine_steps, "azimuths": refine_azimuths}
    metrics = drive(r.evaluate(model_name, run, list(test_sets), out, device=device,
                               split=split, overwrite=overwrite, **kw), "evaluate")
    for name, m in metrics.items():
        say(f"{name:24s} " + ", ".join(f"{k}={v:.3f}" for k, v in m.items()
                                       if isinstance(v, float)))
    say(f"report: {out / 'report.html'}")


@main.command("reconstruct")
@click.argument("run", type=click.Path(exists=True, path_type=Path))
@click.argument("image", type=click.Path(exists=True, path_type=Path))
@click.option("--out", required=True, type=click.Path(path_type=Path),
              help="A .npz with points (N, 3), quaternion_wxyz, world_to_camera, focal_length.")
@click.option("--model", "model_name",
              help="Pose-model stage (see `aist plugins`) [default: the one that trained "
                   "RUN].")
@click.option("--device", default=DEFAULT_DEVICE, show_default=True, help=DEVICE_HELP)
@click.option("--refine", is_flag=True,
              help="Refine the prediction by render-and-compare against the image's alpha "
                   "(RenderNet supp. §1.2; see aist evaluate --refine).")
@click.option("--refine-steps", type=int, default=2000, show_default=True,
              help="Refinement: optimizer steps at most.")
@progress_option
def reconstruct_cmd(run: Path, image: Path, out: Path, model_name: str, device: str,
                    refine: bool, refine_steps: int) -> None:
    """Predict the point cloud and camera of one view with a pose-model run (in the frame of
    its training data's ground truth).

    \b
    Examples:
      aist reconstruct runs/pose photo_view.png --out cloud.npz
    """
    r = runner()
    model_name = _pose_model(r, run, model_name)
    kw = {}
    if refine:  # the plugin's refinement settings
        kw["refine"] = {"steps": refine_steps}
    res = drive(r.reconstruct(model_name, run, image, out, device=device, **kw),
                "reconstruct")
    say(f"points: {len(res['points'])}; pose (wxyz): "
        + ", ".join(f"{v:.3f}" for v in res["quaternion_wxyz"]))
    if "refine_loss" in res:
        say(f"refined: objective {res['refine_loss_start']:.2f} -> {res['refine_loss']:.2f}")
    say(f"saved: {out}")


@main.command("elevations")
@click.argument("dataset", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--pose-run", "run", required=True,
              type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="A trained pose-model run (its alignment puts elevations in the "
                   "ground-truth frame).")
@click.option("--out", required=True, type=click.Path(path_type=Path),
              help="Output folder: elevations.txt (for `render --elevation file:PATH`), "
                   "elevations.csv, summary.json, histogram.png.")
@click.option("--split", help="Only this split's objects [default: every object].")
@click.option("--device", default=DEFAULT_DEVICE, show_default=True, help=DEVICE_HELP)
@overwrite_option
@progress_option
def elevations_cmd(dataset: Path, run: Path, out: Path, split: str | None, device: str,
                   overwrite: bool) -> None:
    """Measure the camera elevations of a dataset's views (real photos, a target, a
    source) with a pose-model run: a file `render --elevation file:PATH` reads, a histogram,
    the fitted truncated normal as a ready spec and, where the dataset has cameras, the
    measured distribution against the true one (KS, mean and median error per view).

    \b
    Examples:
      aist elevations exp/real --pose-run exp/pose-baseline --out photo-elevations
      aist render meshes out --elevation file:photo-elevations/elevations.txt
    """
    from aist_app.pose.elevations import measure_elevations

    predictor = runner().predictor(run, device=device)
    s = drive(measure_elevations(predictor, dataset, out, split=split, overwrite=overwrite),
              "elevations")
    fit = s["fit"]
    say(f"{s['views']} views: fitted {fit['spec']} (mean {fit['mu']}°, sd {fit['sigma']}°)")
    if "against_truth" in s:
        t = s["against_truth"]
        say(f"against the true elevations: KS {t['ks']:.3f}, error per view mean "
            f"{t['mean_abs_error_deg']:.1f}°, median {t['median_abs_error_deg']:.1f}°")
    say(f"render with: --elevation file:{out / 'elevations.txt'}  (or --elevation "
        f"{fit['spec']})")
