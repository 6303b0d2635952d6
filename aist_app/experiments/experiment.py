"""The report's experiment in one command (SPEC §4, report §6): a baseline pose model trained
on synthetic renders against AIST pose models trained on stylized renders (constrained and
less-constrained stylizers), each evaluated on the original, stylized and real test sets.

Stages run in order and each records its completion in ``DIR/.stages/<name>.json`` with the
config it ran with: a finished stage is not redone, an interrupted one resumes (renders skip
complete objects, trainings continue from their last checkpoint).
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import time
import tomllib
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

from aist_app.api.config import from_mapping
from aist_app.api.events import Event, Log
from aist_app.common.io_utils import atomic_write_json
from aist_app.common.outputs import OutputFolder, OutputRecord, folder_identity
from aist_app.experiments.presets import PRESETS, SAMPLE_DATA_PRESETS, merge, pose_runs


def load_config(path: str | Path | None, preset: str | None = None, *,
                meshes: str | Path | None = None, photos: str | Path | None = None,
                require_data: bool = True, runner=None) -> dict[str, Any]:
    """A TOML file (``preset = "small"`` plus any overrides) or just a preset name; ``meshes``
    and ``photos`` override ``[data]``."""
    user: dict[str, Any] = {}
    if path is not None:
        try:
            user = tomllib.loads(Path(path).read_text())
        except (OSError, tomllib.TOMLDecodeError) as e:
            raise ValueError(f"{path}: not a readable TOML experiment config ({e})") from None
    for key, value in (("meshes", meshes), ("photos", photos)):
        if value is not None:
            user.setdefault("data", {})[key] = str(value)
    name = preset or user.pop("preset", "small")
    user.pop("preset", None)
    if name not in PRESETS:
        raise ValueError(f"preset {name!r}: use one of {sorted(PRESETS)}")
    _check_keys(user, path)
    base = copy.deepcopy(PRESETS[name])
    if runner is None:
        from aist_app.stages.runner import StageRunner

        runner = StageRunner()
    for section, kind in (("stylizer", "stylizer"), ("pose", "pose_model")):
        plugin = user.get(section, {}).get("plugin")
        # The presets' settings are the default stage's: another plugin starts afresh.
        if plugin is not None and plugin != runner.default_stage(kind):
            base[section] = {k: v for k, v in base[section].items() if k == "variants"}
    cfg = merge(base, user)
    cfg["preset"] = name
    check_config(cfg, str(path or f"preset {name!r}"), runner)
    missing = [k for k in ("meshes", "photos") if not cfg["data"][k]]
    if missing and name not in SAMPLE_DATA_PRESETS and not require_data:
        return cfg  # a plan (--dry-run) of the report's scale needs no data
    if missing and name not in SAMPLE_DATA_PRESETS:
        raise ValueError(
            f"preset {name!r} is the report's experiment and needs your data: give "
            + " and ".join(f"--{k} (or [data] {k} in the config file)" for k in missing)
            + "; it never falls back to the bundled samples (use --preset small for those)")
    from aist_app.common.samples import sample_meshes, sample_photos

    if "cars" not in cfg:  # the cpu preset generates its meshes when none are named
        cfg["data"]["meshes"] = cfg["data"]["meshes"] or str(sample_meshes())
    cfg["data"]["photos"] = cfg["data"]["photos"] or str(sample_photos())
    return cfg


#: Keys of the sections that are not a stage's config (the others take their stage config's
#: fields, typed: [render] and [target] RenderConfig's, [segment] SegmentConfig's, [stylizer]
#: and [pose] those of the plugin they name).
SECTIONS: dict[str, set[str]] = {
    "data": {"meshes", "photos"},
    "evaluate": {"split", "kid_seeds", "kid_feature_net", "bootstrap", "refine",
                 "refine_config"},
    "cars": {"count"},
    "elevations": {"measure_on", "split"},
}
STAGE_SECTIONS = ("render", "target", "segment", "stylizer", "pose")


def _check_keys(user: dict[str, Any], path) -> None:
    """Unknown sections and keys of the plain sections are errors (a typo must not silently
    run the preset's value); the stage sections are checked by :func:`check_config`."""
    where = path or "the config"
    for key, value in user.items():
        if key in ("seed", "device", "threads"):
            continue
        if key not in SECTIONS and key not in STAGE_SECTIONS:
            raise ValueError(f"{where}: unknown key {key!r}; top-level keys are preset, seed, "
                             "device, threads and the sections "
                             f"{sorted([*SECTIONS, *STAGE_SECTIONS])}")
        if not isinstance(value, dict):
            raise ValueError(f"{where}: [{key}] must be a section (a TOML table)")
        for k in value if key in SECTIONS else ():
            if k not in SECTIONS[key]:
                raise ValueError(f"{where}: unknown key {k!r} in [{key}]; see "
                                 "docs/experiment-config.md")


def check_config(cfg: dict[str, Any], where: str = "the config", runner=None) -> None:
    """Check every key before anything runs: each stage's typed config is built from its
    section and validated (an unknown key, a value of the wrong type or out of range is an
    error naming the TOML key and its section); the plain keys, sections and data paths
    likewise."""
    if runner is None:
        from aist_app.stages.runner import StageRunner

        runner = StageRunner()

    from aist_app.common.devices import DeviceError, parse_device

    seed, device = cfg["seed"], cfg["device"]
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"{where}: seed = {seed!r}: must be a whole number >= 0")
    threads = cfg.get("threads", 0)
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 0:
        raise ValueError(f"{where}: threads = {threads!r}: must be a whole number >= 0 (0: "
                         "torch's default, the machine's cores)")
    try:
        parse_device(device, option="device =")
    except DeviceError as e:
        raise ValueError(f"{where}: {e}") from None
    _check_plain(cfg, where)
    st, po = cfg["stylizer"], cfg["pose"]
    stylizer = plugin_of(runner, "stylizer", st)
    stylizer_cls = runner.config_class("stylizer", stylizer)
    stylizer_preset = runner.stage("stylizer", stylizer).factory.config_preset
    pose_cls = runner.config_class("pose_model", plugin_of(runner, "pose_model", po))
    checks = [("render", cfg["render"], lambda sec: render_config(sec, seed, device))]
    if cfg.get("target"):
        checks.append(("target", cfg["target"], lambda sec: render_config(
            {**cfg["render"], **sec}, seed, device)))
    checks.append(("segment", cfg["segment"], lambda sec: segment_config(sec, seed, device)))
    for variant in st["variants"]:
        checks.append(("stylizer", st, lambda sec, v=variant: stylizer_config(
            stylizer_cls, sec, v, seed, device, stylizer_preset)))
    checks.append(("pose", po, lambda sec: pose_config(pose_cls, sec, seed, device)))
    for name, section, build in checks:
        _check_section(name, section, build, where)


def _built(build, section: dict[str, Any]) -> None:
    config = build(section)
    validate = getattr(config, "validate", None)
    if validate is not None:
        validate()


def _check_section(name: str, section: dict[str, Any], build, where: str) -> None:
    """Build and validate one stage section; on an error, name the key that causes it (the
    one whose removal makes the section valid)."""
    try:
        _built(build, section)
    except ValueError as e:
        for key in section:
            if key in _STAGE_KEYS:
                continue
            try:
                _built(build, {k: v for k, v in section.items() if k != key})
            except ValueError:
                continue
            raise ValueError(f"{where}: [{name}] {key} = {section[key]!r}: {e}") from None
        raise ValueError(f"{where}: [{name}]: {e}") from None


def _check_plain(cfg: dict[str, Any], where: str) -> None:
    """[data], [cars] and [evaluate]: each value of the type and range it needs."""
    for key in ("meshes", "photos"):
        value = cfg["data"].get(key)
        if value and not Path(value).expanduser().exists():
            raise ValueError(f"{where}: [data] {key} = {value!r}: no such file or folder")
    count = cfg.get("cars", {}).get("count", 1)
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"{where}: [cars] count = {count!r}: must be a whole number >= 1")
    ev = cfg.get("evaluate", {})
    if ev.get("split", "test") not in ("test", "all"):
        raise ValueError(f"{where}: [evaluate] split = {ev['split']!r}: use \"test\" or "
                         "\"all\"")
    for key, least in (("kid_seeds", 1), ("bootstrap", 0)):
        value = ev.get(key, least)
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise ValueError(f"{where}: [evaluate] {key} = {value!r}: must be a whole "
                             f"number >= {least}")
    _check_elevations(cfg, where)
    refine = ev.get("refine", [])
    if not isinstance(refine, list) or not all(isinstance(x, str) for x in refine):
        raise ValueError(f"{where}: [evaluate] refine = {refine!r}: a list of test-set names "
                         "(e.g. [\"real\"])")


def _check_elevations(cfg: dict[str, Any], where: str) -> None:
    """[elevations]: what to measure on (a target needs a [target] section) and its split."""
    el = cfg.get("elevations", {})
    on = el.get("measure_on")
    if on is not None and on not in ("target", "real"):
        raise ValueError(f"{where}: [elevations] measure_on = {on!r}: use \"target\" or "
                         "\"real\"")
    if on == "target" and not cfg.get("target"):
        raise ValueError(f"{where}: [elevations] measure_on = \"target\" needs a [target] "
                         "section (a rendered target domain); use \"real\" for the photos")
    split = el.get("split")
    if split is not None and split not in ("train", "val", "test"):
        raise ValueError(f"{where}: [elevations] split = {split!r}: use \"train\", \"val\" "
                         "or \"test\" (leave it out for every object)")


def plugin_of(runner, kind: str, section: dict[str, Any]) -> str:
    """The stage a section names (``plugin = "..."``), else its kind's default stage."""
    return section.get("plugin") or runner.default_stage(kind)


def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:16]


class Experiment:
    def __init__(self, config: dict[str, Any], out: str | Path, *,
                 overwrite: bool = False, runner=None) -> None:
        """An experiment in ``out``: a folder of the same experiment resumes stage by stage,
        any other is refused unless ``overwrite`` (replaced when the new one completes).
        Every stage runs through ``runner`` (a :class:`~aist_app.stages.runner.StageRunner`;
        by default one on the installed plugins)."""
        if runner is None:
            from aist_app.stages.runner import StageRunner

            runner = StageRunner()
        self.runner = runner
        self.cfg = config
        # Stage configs may change between runs (the changed stages are redone, below); the
        # data may not.
        inputs = {k: folder_identity(v) for k, v in config["data"].items() if v}
        if not config["data"]["meshes"]:
            inputs["meshes"] = {"generated cars": config.get("cars", {}),
                                "seed": config["seed"]}
        record = OutputRecord("experiment", "aist", {}, inputs)
        self.output = OutputFolder(out, record, overwrite=overwrite, what="experiment")
        self.out = self.output.path
        self.stages_dir = self.out / ".stages"

    # -- stage bookkeeping ----------------------------------------------------------------
    # A stage is done when its spec is the one it ran with and the stages it reads from
    # (``after``) are the outputs it was made from: each record keeps the keys of its inputs
    # and its own key (spec + inputs), so a change upstream redoes everything downstream.
    def _record(self, name: str) -> dict | None:
        try:
            rec = json.loads((self.stages_dir / f"{name}.json").read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None
        return rec if isinstance(rec, dict) and "digest" in rec else None

    def _inputs(self, after: tuple[str, ...]) -> dict[str, str]:
        """The keys of the finished stages ``after`` (a record from before keys: its
        digest)."""
        out = {}
        for name in after:
            rec = self._record(name) or {}
            out[name] = rec.get("key", rec.get("digest", ""))
        return out

    @staticmethod
    def _matches(rec: Any, spec: Any, inputs: dict[str, str]) -> bool:
        """Whether a stage's record (done or started) is of this spec on these inputs; one
        written before inputs were kept is judged on its spec alone."""
        return (isinstance(rec, dict) and rec.get("digest") == _digest(spec)
                and rec.get("inputs", inputs) == inputs)

    def _mark(self, name: str, spec: Any, inputs: dict[str, str], seconds: float) -> None:
        atomic_write_json(self.stages_dir / f"{name}.json",
                          {"digest": _digest(spec), "inputs": inputs,
                           "key": _digest([_digest(spec), inputs]), "spec": spec,
                           "seconds": round(seconds, 1)})

    def _stage(self, name: str, spec: Any, fn: Callable[[bool], Any],
               after: tuple[str, ...] = ()) -> Generator[Event, None, None]:
        """Run ``fn(overwrite)`` (a runner's events, or plain work) unless done with this
        ``spec`` on the current outputs of the stages ``after``: a stage interrupted with
        the same spec and inputs resumes where it stopped; one whose spec or inputs changed
        replaces its old output (an interrupted replacement resumes in its staging folder,
        since the old output of another spec is still in place)."""
        inputs = self._inputs(after)
        done = self._record(name)
        if self._matches(done, spec, inputs):
            yield Log(f"[{name}] skipped already done", "stage")
            return
        started = self.stages_dir / f"{name}.started"
        try:
            same = self._matches(json.loads(started.read_text()), spec, inputs)
        except (FileNotFoundError, json.JSONDecodeError):
            same = False
        atomic_write_json(started, {"digest": _digest(spec), "inputs": inputs, "spec": spec})
        yield Log(f"[{name}] start", "stage")
        t0 = time.perf_counter()
        result = fn(not same or done is not None)
        if isinstance(result, Generator):
            yield from result
        self._mark(name, spec, inputs, time.perf_counter() - t0)
        yield Log(f"[{name}] done {time.perf_counter() - t0:.1f} s", "stage")

    # -- the pipeline ----------------------------------------------------------------------
    def run(self) -> Generator[Event, None, Path]:
        """Every declared stage (:func:`aist_app.experiments.stages.declare`) in order, each
        skipped when done with its spec on its inputs' current outputs; then the report."""
        from aist_app.experiments.stages import declare

        c = self.cfg
        self.out.mkdir(parents=True, exist_ok=True)
        atomic_write_json(self.out / "experiment.json", c)
        if c.get("threads"):
            # The CPU threads of the learned stages: the thread count changes a CPU run's
            # rounding, hence its trajectory; pinned, a seed reproduces on any machine.
            import torch

            torch.set_num_threads(c["threads"])
        for stage in declare(self):
            yield from self._stage(stage.name, stage.spec, stage.work, stage.after)
        runs = {model: run_dir for model, (_, run_dir) in pose_runs(c, self.out).items()}
        reports = {model: json.loads((self.out / "eval" / run.name / "metrics.json")
                                     .read_text()) for model, run in runs.items()}
        from aist_app.experiments.report import write_summary

        html = write_summary(self.out / "report", reports, self.out, c, runs, self.runner)
        html = self.output.publish_with(html)
        self.out = self.output.final
        yield Log(f"[report] done {html}", "stage")
        return html


# -- the sections as the stages' typed configs ---------------------------------------------
#: [render]/[target] keys that are not RenderConfig fields.
_RENDER_ALIASES = {"size": "image_size"}


def render_config(section: dict[str, Any], seed: int, device: str):
    """A [render] (or [render] + [target]) section as the RenderConfig: any of its fields,
    ``size = N`` for ``image_size``."""
    from aist_app.render.pipeline import RenderConfig

    values = {_RENDER_ALIASES.get(k, k): v for k, v in section.items()}
    if isinstance(values.get("image_size"), int):
        values["image_size"] = (values["image_size"], values["image_size"])
    values.setdefault("seed", seed)
    values.setdefault("device", "cpu" if device == "cpu" else "auto")
    return from_mapping(RenderConfig, values, "[render]", strict=True)


def segment_config(section: dict[str, Any], seed: int, device: str):
    from aist_app.segment.pipeline import SegmentConfig

    return from_mapping(SegmentConfig, {"seed": seed, "device": device, **section},
                        "[segment]", strict=True)


#: [stylizer] and [pose] keys that are the experiment's, not the stage config's.
_STAGE_KEYS = ("plugin", "variants")


def stylizer_config(cls: type, section: dict[str, Any], variant: str, seed: int, device: str,
                    preset=None):
    """The stylizer's config for one variant: its preset (a stylizer with presets) and the
    section's settings; checkpoints, samples and evaluations at the end of a short run."""
    values = {k: v for k, v in section.items() if k not in _STAGE_KEYS}
    steps = values.get("steps")
    fields = {f.name for f in dataclasses.fields(cls)}
    for key, default in (("checkpoint_every", 500), ("sample_every", 200),
                         ("eval_every", 500)):
        if key in fields:
            values.setdefault(key, max(1, steps or default))
    base = preset(variant) if preset is not None else None
    # A section's own seed (a seed study of the learned stages on one dataset) wins.
    return from_mapping(cls, {**values, "seed": values.get("seed", seed), "device": device},
                        "[stylizer]", base=base, strict=True)


def pose_config(cls: type, section: dict[str, Any], seed: int, device: str):
    values = {k: v for k, v in section.items() if k not in _STAGE_KEYS}
    return from_mapping(cls, {**values, "seed": values.get("seed", seed), "device": device},
                        "[pose]", strict=True)
