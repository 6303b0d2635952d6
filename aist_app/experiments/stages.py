"""The experiment's stages as a declared list: each stage is its name, the spec it is keyed
on (a change redoes it and everything that reads it), the stages whose outputs it reads, the
folder it writes and the work that makes it. :meth:`Experiment.run` runs the list in order;
a model variant is one more declaration here.

The specs are the ones the experiment has always recorded in ``.stages/<name>.json``, so a
finished experiment stays finished.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aist_app.common.io_utils import atomic_write_json
from aist_app.experiments.presets import pose_runs

if TYPE_CHECKING:
    from aist_app.experiments.experiment import Experiment


@dataclass
class Stage:
    """One stage: ``work(overwrite)`` makes ``output`` from the outputs of ``after``."""

    name: str
    spec: Any
    work: Callable[[bool], Any]
    after: tuple[str, ...] = ()
    output: Path | None = None


@dataclass
class Layout:
    """Where each dataset of an experiment lives and which stage made it."""

    root: Path
    meshes: str
    syn: Path
    real: Path
    target: Path | None
    stylized: dict[str, Path] = field(default_factory=dict)
    made_by: dict[Path, str] = field(default_factory=dict)


def declare(e: Experiment) -> list[Stage]:
    """Every stage of experiment ``e``, in the order they run."""
    c, root = e.cfg, e.out
    lay = Layout(root, c["data"]["meshes"], root / "synthetic", root / "real",
                 root / "target" if c.get("target") else None)
    stages = data_stages(e, lay)
    stages += stylizer_stages(e, lay)
    stages += kid_stage(e, lay)
    measured = elevation_stages(e, lay)  # (registers its set before the pose stages read it)
    pose = pose_stages(e, lay)
    # The measured elevations read the baseline: they follow it, and precede their model.
    stages += pose[:1] + measured + pose[1:]
    stages += eval_stages(e, lay)
    return stages


def data_stages(e: Experiment, lay: Layout) -> list[Stage]:
    """Generated cars (without meshes), the source and target renders, the photos."""
    c, runner, seed, device = e.cfg, e.runner, e.cfg["seed"], e.cfg["device"]
    from aist_app.experiments.experiment import render_config, segment_config

    stages = []
    if not c["data"]["meshes"]:  # generated cars (the cpu preset)
        cars_dir = lay.root / "cars"

        def cars(overwrite: bool):
            from aist_app.api.events import Progress
            from aist_app.scene.cars import make_cars

            count = c["cars"]["count"]
            for i, mid in enumerate(make_cars(cars_dir, count, seed=seed), 1):
                yield Progress(i, count, "car", mid, "written")  # model ids, as progress
            return cars_dir / "02958343"

        stages.append(Stage("cars", [c["cars"], seed], cars, output=cars_dir))
        lay.meshes = str(cars_dir)

    def render_into(dest: Path, section: dict):
        cfg = render_config(section, seed, device)
        return lambda overwrite: runner.render(lay.meshes, dest, cfg, overwrite=overwrite)

    cars_stage = ("cars",) if not c["data"]["meshes"] else ()
    stages.append(Stage("render", [c["data"]["meshes"], c["render"], seed],
                        render_into(lay.syn, c["render"]), cars_stage, lay.syn))
    if lay.target is not None:
        # The same meshes, cameras and splits in another look: ground truth on the target
        # side. (Its key leaves out the target's renderer, as it always has.)
        keyed = {k: v for k, v in c["target"].items() if k != "renderer"}
        stages.append(Stage("render-target", [c["data"]["meshes"], c["render"], keyed, seed],
                            render_into(lay.target, {**c["render"], **c["target"]}),
                            cars_stage, lay.target))

    def segment(overwrite: bool):
        return runner.segment(c["data"]["photos"], lay.real, lay.syn,
                              segment_config(c["segment"], seed, device), overwrite=overwrite)

    stages.append(Stage("segment", [c["data"]["photos"], c["segment"], seed], segment,
                        ("render",), lay.real))
    lay.made_by.update({lay.syn: "render", lay.real: "segment",
                        **({lay.target: "render-target"} if lay.target else {})})
    return stages


def stylizer_stages(e: Experiment, lay: Layout) -> list[Stage]:
    """Per stylizer variant: its training (source to target, else to the photos) and the
    stylized source set."""
    from aist_app.experiments.experiment import plugin_of, stylizer_config

    c, runner, seed, device = e.cfg, e.runner, e.cfg["seed"], e.cfg["device"]
    st = c["stylizer"]
    stylizer = plugin_of(runner, "stylizer", st)
    domain = lay.target or lay.real
    stages = []
    for variant in st["variants"]:
        run_dir = lay.root / f"stylizer-{variant}"
        out = lay.stylized[variant] = lay.root / f"stylized-{variant}"

        def train(overwrite: bool, variant=variant, run_dir=run_dir):
            config = stylizer_config(runner.config_class("stylizer", stylizer), st, variant,
                                     seed, device,
                                     runner.stage("stylizer", stylizer).factory.config_preset)
            return runner.train_stylizer(stylizer, config, lay.syn, domain, run_dir,
                                         overwrite=overwrite)

        def stylize(overwrite: bool, run_dir=run_dir, out=out):
            return runner.stylize(stylizer, run_dir, lay.syn, out, device=device,
                                  overwrite=overwrite)

        stages += [Stage(f"stylizer-{variant}", [st, variant, seed], train,
                         ("render", lay.made_by[domain]), run_dir),
                   Stage(f"stylize-{variant}", [st, variant, seed], stylize,
                         (f"stylizer-{variant}", "render"), out)]
        lay.made_by[out] = f"stylize-{variant}"
    return stages


def kid_stage(e: Experiment, lay: Layout) -> list[Stage]:
    """The stylizers' KID to the target look over seeds (with a target domain)."""
    c = e.cfg
    st, ev_cfg = c["stylizer"], c.get("evaluate", {})
    if lay.target is None or not lay.stylized:
        return []

    def kid(overwrite: bool):
        from aist_app.stylize.domain_kid import domain_kid, moves_toward
        from aist_app.stylize.features import feature_net

        phi = feature_net(ev_cfg.get("kid_feature_net") or st.get("feature_net", "resnet18"))
        sets = {"source": lay.syn, "target": lay.target,
                **{f"stylized {v}": p for v, p in lay.stylized.items()}}
        pairs = {f"{n} vs target": (n, "target") for n in sets if n != "target"}
        res = domain_kid(sets, pairs, phi, seeds=ev_cfg.get("kid_seeds", 3))
        verdict = {v: moves_toward(res, "source vs target", f"stylized {v} vs target")
                   for v in lay.stylized}
        atomic_write_json(lay.root / "kid.json", {
            "kid": res, "stylized_closer_than_source": verdict, "feature_net": phi.name,
            "held_out_splits": ["val", "test"]})

    return [Stage("kid", [st, c["target"], ev_cfg.get("kid_seeds", 3)], kid,
                  ("render", "render-target", *(f"stylize-{v}" for v in lay.stylized)),
                  lay.root / "kid.json")]


def elevation_stages(e: Experiment, lay: Layout) -> list[Stage]:
    """With ``[elevations] measure_on``: the target's (or the photos') camera elevations
    measured by the baseline (``aist elevations``), and the source rendered again at them,
    for the measured-elevations pose model."""
    from aist_app.experiments.experiment import render_config

    c, runner, seed, device = e.cfg, e.runner, e.cfg["seed"], e.cfg["device"]
    el = c.get("elevations", {})
    if not el.get("measure_on"):
        return []
    on = lay.target if el["measure_on"] == "target" else lay.real
    folder, measured_set = lay.root / "elevations", lay.root / "synthetic-measured"
    baseline_run = pose_runs(c, lay.root)["baseline"][1]

    def measure(overwrite: bool):
        from aist_app.pose.elevations import measure_elevations

        predictor = runner.predictor(baseline_run, device=device)
        return measure_elevations(predictor, on, folder, split=el.get("split"),
                                  overwrite=overwrite)

    def render(overwrite: bool):
        section = {**c["render"], "elevation": f"file:{folder / 'elevations.txt'}"}
        return runner.render(lay.meshes, measured_set, render_config(section, seed, device),
                             overwrite=overwrite)

    cars_stage = ("cars",) if not c["data"]["meshes"] else ()
    lay.made_by[measured_set] = "render-measured"
    return [Stage("elevations", [el, seed], measure,
                  (f"pose-{baseline_run.name[5:]}", lay.made_by[on]), folder),
            Stage("render-measured", [c["data"]["meshes"], c["render"], seed], render,
                  (*cars_stage, "elevations"), measured_set)]


def pose_stages(e: Experiment, lay: Layout) -> list[Stage]:
    """Each pose model (the baseline on the source, AIST on each stylized set)."""
    from aist_app.experiments.experiment import plugin_of, pose_config
    from aist_app.pose.align import ALIGNMENT  # it keeps checkpoints, it scores them

    c, runner, seed, device = e.cfg, e.runner, e.cfg["seed"], e.cfg["device"]
    po = c["pose"]
    pose_model = plugin_of(runner, "pose_model", po)
    stages = []
    for train_set, run_dir in pose_runs(c, lay.root).values():
        def train(overwrite: bool, train_set=train_set, run_dir=run_dir):
            config = pose_config(runner.config_class("pose_model", pose_model), po, seed,
                                 device)
            return runner.train_pose(pose_model, config, train_set, run_dir,
                                     overwrite=overwrite)

        stages.append(Stage(f"pose-{run_dir.name[5:]}", [po, str(train_set), seed, ALIGNMENT],
                            train, (lay.made_by[train_set],), run_dir))
    return stages


def evaluated_sets(lay: Layout) -> list:
    """Every set the models are evaluated on; with a target domain the photos are a second
    target no model trained on (XOR only): every photo counts."""
    return [lay.syn, *lay.stylized.values(), *([lay.target] if lay.target else []),
            (lay.real, "all") if lay.target else lay.real]


def eval_stages(e: Experiment, lay: Layout) -> list[Stage]:
    """Each pose model evaluated on every test set, into ``eval/<run>``."""
    from aist_app.experiments.experiment import plugin_of
    from aist_app.pose.align import ALIGNMENT

    c, runner, device = e.cfg, e.runner, e.cfg["device"]
    po, ev_cfg = c["pose"], c.get("evaluate", {})
    pose_model = plugin_of(runner, "pose_model", po)
    sets = evaluated_sets(lay)
    reads = tuple(dict.fromkeys(lay.made_by[t[0] if isinstance(t, tuple) else t]
                                for t in sets))
    refine = {}
    if ev_cfg.get("refine"):  # set names to refine at test time as well
        refine = {"refine": dict(ev_cfg.get("refine_config", {})),
                  "refine_sets": list(ev_cfg["refine"])}
    stages = []
    for model, (_, run_dir) in pose_runs(c, lay.root).items():
        rep = lay.root / "eval" / run_dir.name

        def evaluate(overwrite: bool, run_dir=run_dir, rep=rep, model=model):
            return runner.evaluate(pose_model, run_dir, sets, rep, device=device,
                                   model_name=model, split=ev_cfg.get("split", "test"),
                                   overwrite=overwrite, **refine)

        spec = [po, [str(t) for t in sets], ev_cfg.get("split"), ALIGNMENT,
                *([ev_cfg["refine"], ev_cfg.get("refine_config", {})]
                  if ev_cfg.get("refine") else [])]
        stages.append(Stage(f"eval-{run_dir.name}", spec, evaluate,
                            (f"pose-{run_dir.name[5:]}", *reads), rep))
    return stages
