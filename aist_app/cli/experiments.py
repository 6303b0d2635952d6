"""The report's experiment and the demo."""

from __future__ import annotations

import json
from pathlib import Path

import click

from aist_app import __version__
from aist_app.cli.common import drive, fail, overwrite_option, progress_option, runner, say
from aist_app.cli.datasets import print_summary, report_render, run_render
from aist_app.cli.main import main


@main.command("experiment")
@click.argument("config", required=False, type=click.Path(exists=True, path_type=Path))
@click.option("--out", required=True, type=click.Path(path_type=Path),
              help="Experiment folder (resumes stage by stage).")
@click.option("--preset", type=click.Choice(["small", "demo", "cpu", "cpu-elevations", "full",
                                            "full-0to40"]),
              help="Without CONFIG, or to override its preset. small / demo: the pipeline "
                   "in minutes; cpu: learning you can see, under an hour on 2 cores (48 "
                   "generated cars, a ground-truthed target domain); cpu-elevations: the "
                   "same with the source at U[-20, 40] and the target at photo-like "
                   "elevations, plus a model trained at the elevations the baseline "
                   "measured on the target; full / full-0to40 need --meshes and --photos.")
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
@progress_option
def experiment_cmd(config: Path | None, out: Path, preset: str | None, meshes, photos,
                   overwrite: bool, dry_run: bool, as_json: bool) -> None:
    """The report's experiment: baseline vs AIST (constrained, less-constrained) pose models,
    each evaluated on the original, stylized and real test sets (and, with a [target]
    domain, on its held-out renders with ground truth). Resumable stage by stage: a
    stage whose config changed is redone (its old output replaced), the others are skipped.

    CONFIG is a TOML file; every key is optional and overrides the preset (small unless
    `preset` says otherwise). Sections and keys (all in docs/experiment-config.md); an
    unknown key is an error naming it:

    \b
      preset = "small" | "demo" | "cpu" | "cpu-elevations" | "full" | "full-0to40"
      seed = 0            device = "auto" | "cpu" | "cuda[:N]"
      [data]      meshes, photos (folders; full presets need both)
      [cars]      count (cpu preset without meshes: generated cars)
      [render]    views, size, elevation, azimuth, renderer, splits, look
      [target]    renderer, look, views, samples, supersample (a target domain)
      [segment]   segmenter, min_side, min_score, ...
      [stylizer]  plugin, variants (list of presets), any setting of the stylizer's config
      [pose]      plugin, any setting of the pose model's config: steps, lr, ...
      [evaluate]  split = "test" | "all", kid_seeds, bootstrap, refine, refine_config
      [elevations] measure_on = "target" | "real", split (a model trained at the
                  elevations the baseline measures there)

    \b
    Examples:
      aist experiment --preset small --out runs/small
      aist experiment --preset cpu --out runs/cpu
      aist experiment --preset full --meshes ShapeNetCore.v1/02958343 --photos cars/ --out x
    """
    if dry_run:
        _plan_experiment(config, preset, meshes, photos, as_json)
        return
    html = run_experiment(config, out, preset, meshes=meshes, photos=photos,
                          overwrite=overwrite)
    say(f"report: {html}")


def _plan_experiment(config, preset, meshes, photos, as_json: bool) -> None:
    from aist_app.experiments.experiment import load_config
    from aist_app.experiments.plan import format_plan, make_plan, plan_json

    try:
        cfg = load_config(config, preset, meshes=meshes, photos=photos, require_data=False)
    except ValueError as e:
        fail(str(e))
    from aist_app.experiments.plan import planned_objects

    objects, n_photos = planned_objects(cfg), None
    if cfg["data"].get("photos"):
        from aist_app.segment.photos import discover_photos

        n_photos = len(discover_photos(cfg["data"]["photos"]))
    click.echo(f"plan of the {cfg['preset']} preset ({objects or 'the reference scale, 7497'} "
               f"objects, {n_photos or 0} photos); measuring...", err=True)
    plans = make_plan(cfg, objects=objects, photos=n_photos)
    click.echo(json.dumps(plan_json(plans), indent=2) if as_json else format_plan(plans))


def run_experiment(config: Path | None, out: Path, preset: str | None, *,
                   meshes: Path | None = None, photos: Path | None = None,
                   overwrite: bool = False) -> Path:
    from aist_app.cli.common import runner
    from aist_app.experiments.experiment import Experiment, load_config

    try:
        cfg = load_config(config, preset, meshes=meshes, photos=photos)
        experiment = Experiment(cfg, out, overwrite=overwrite, runner=runner())
    except ValueError as e:
        fail(str(e))
    return drive(experiment.run(), "experiment")


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
    from aist_app.common.samples import sample_meshes
    from aist_app.dataset import Dataset
    from aist_app.render.pipeline import RenderConfig

    meshes = meshes or sample_meshes()
    click.echo(f"AIST {__version__} demo: meshes from {meshes}")
    for renderer in runner().pm.registry.names("renderer"):  # every installed renderer
        target = out / f"synthetic-{renderer}"
        cfg = RenderConfig(renderer=renderer, views=views, elevation="0:40", seed=seed,
                           device="cpu", depth=True)
        click.echo(f"\n== render with {renderer} (elevation 0:40, {views} views, 128x128) ==")
        summary = run_render(meshes, target, cfg)
        report_render(summary)
        ds = Dataset.open(target)
        print_summary(ds.summary())
        _print_consistency(ds)
    click.echo("\n== the AIST experiment, demo preset (the cpu preset shortened): generate 12 "
               "cars, render them flat (pyrender, the source) and in a varied look (Blender "
               "Cycles, the target, with ground truth), segment the bundled photos "
               "(deeplab-lite), train a stylizer source -> target (EfficientNet-Lite0 "
               "features), stylize, KID over 3 seeds, train baseline and AIST pose models, "
               "evaluate on source, stylized, target and real test sets ==")
    html = run_experiment(None, out / "experiment", "demo")
    from aist_app.experiments.presets import PIPELINE_ONLY

    click.echo(f"\n{PIPELINE_ONLY}")
    click.echo(f"\ndemo outputs are in {out.resolve()}")
    click.echo(f"experiment report: {html.resolve()}")


def _print_consistency(ds) -> None:
    from aist_app.dataset.consistency import check_dataset

    report = check_dataset(ds)
    click.echo(f"annotation consistency: min IoU {report['min_iou']:.3f}, mean "
               f"{report['mean_iou']:.3f} over {report['views']} views "
               f"(points projected with the saved cameras vs the rendered alpha)")
