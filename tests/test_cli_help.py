"""CLI help for people: every option says what it does and its default, every command ends
its description with examples, and docs/experiment-config.md lists every config key."""

from __future__ import annotations

import ast
import re
from dataclasses import fields
from pathlib import Path

import click
import pytest

from aist_app.cli import main
from aist_app.experiments.experiment import SECTIONS, load_config
from aist_app.render.pipeline import RenderConfig
from aist_app.segment.pipeline import SegmentConfig
from aist_plugins.cyclegan.config import StylizerConfig
from aist_plugins.dpc.config import PoseConfig

ROOT = Path(__file__).resolve().parents[1]


#: The invocation's context: plugins' commands and options are found through it.
ROOT_CTX = click.Context(main)


def _commands(cmd=main, prefix=()):
    if isinstance(cmd, click.Group):
        for name in cmd.list_commands(ROOT_CTX):
            yield from _commands(cmd.get_command(ROOT_CTX, name), (*prefix, name))
    else:
        yield " ".join(prefix), cmd


COMMANDS = dict(_commands())


def params(name: str) -> list[click.Parameter]:
    """The command's options, the plugins' included."""
    cmd = COMMANDS[name]
    return cmd.get_params(click.Context(cmd, parent=ROOT_CTX))


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_option_has_help_and_its_default(name):
    for p in params(name):
        if not isinstance(p, click.Option) or p.name == "help":
            continue
        assert p.help, f"aist {name} {p.opts[0]}: no help text"
        has_default = (isinstance(p.default, (int, float, str, tuple, list, Path))
                       and p.default not in (None, False, ()) and not p.is_flag)
        if has_default:
            assert p.show_default or "default" in p.help.lower(), (
                f"aist {name} {p.opts[0]}: default {p.default!r} not shown")


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_ends_with_examples(name):
    text = COMMANDS[name].help or ""
    tail = text.rsplit("Examples:", 1)
    assert len(tail) == 2, f"aist {name}: no examples"
    examples = [line.strip() for line in tail[1].strip().splitlines() if line.strip()]
    assert 1 <= len(examples) and all(e.startswith(("aist ", "AIST_")) for e in examples[:2])


def test_out_is_positional_for_datasets_and_an_option_for_runs():
    """The deliberate difference, documented in `aist --help`."""
    datasets = ("render", "segment", "stylize", "import-dpc", "farm submit")
    runs = ("train-stylizer", "train-pose", "evaluate", "reconstruct", "experiment")
    for name in datasets:
        assert any(isinstance(p, click.Argument) and p.name == "out"
                   for p in params(name)), name
    for name in runs:
        assert any(isinstance(p, click.Option) and p.name == "out"
                   for p in params(name)), name
    assert "positional OUT" in main.help and "take --out" in main.help
    writers = (*datasets[:-1], *runs[:-2], "experiment")
    for name in writers:
        assert any(p.name == "overwrite" for p in params(name)), name


def test_experiment_config_documented_key_by_key():
    doc = (ROOT / "docs" / "experiment-config.md").read_text()
    keys = set(re.findall(r"^\| `([a-z_0-9]+)` \|", doc, flags=re.M))
    wanted = {"preset", "seed", "device", "variants"} | set().union(*SECTIONS.values())
    wanted |= {f.name for f in fields(PoseConfig)} - {"seed", "device"}
    wanted |= {f.name for f in fields(StylizerConfig)} - {"seed", "device"}
    wanted |= {f.name for f in fields(RenderConfig)} - {"seed", "device", "image_size"}
    wanted |= {f.name for f in fields(SegmentConfig)} - {"seed", "device"}
    wanted |= {"plugin", "size"}
    assert wanted <= keys, sorted(wanted - keys)
    assert "[pose]" in (COMMANDS["experiment"].help or "")


def _cell(text: str):
    """A preset column's cell: None for an em dash, else the literal in backticks."""
    text = text.strip()
    if text == "—":
        return None
    text = text.strip("`")
    return ast.literal_eval({"true": "True", "false": "False"}.get(text, text))


@pytest.mark.parametrize("section", ["stylizer", "pose"])
def test_preset_columns_match_the_presets(section):
    """The small / cpu / full columns of the [stylizer] and [pose] tables say what the
    presets set, key by key (a preset changed without its page fails here)."""
    from aist_app.experiments.presets import PRESETS

    doc = (ROOT / "docs" / "experiment-config.md").read_text()
    body = doc.split(f"## [{section}]")[1].split("\n## ")[0]
    rows = [[c.strip() for c in line.split("|")[1:-1]] for line in body.splitlines()
            if line.startswith("| `")]
    documented = set()
    for key, _type, _default, *cells in rows:
        key = key.strip("`")
        documented.add(key)
        if key == "plugin":
            continue
        for cell, preset in zip(cells, ("small", "cpu", "full"), strict=True):
            assert _cell(cell) == PRESETS[preset].get(section, {}).get(key), (key, preset)
    for preset in ("small", "cpu", "full"):
        assert set(PRESETS[preset].get(section, {})) <= documented, preset


def test_unknown_config_keys_are_errors(tmp_path):
    cfg = tmp_path / "x.toml"
    cfg.write_text("[pose]\nstpes = 10\n")
    with pytest.raises(ValueError, match="unknown key 'stpes' in \\[pose\\]"):
        load_config(cfg)
    cfg.write_text("[rendr]\nviews = 3\n")
    with pytest.raises(ValueError, match="unknown key 'rendr'"):
        load_config(cfg)
    cfg.write_text("[pose]\nsteps = 10\n[render]\nviews = 3\n")
    assert load_config(cfg)["pose"]["steps"] == 10
    # Stage sections take their config's fields, typed.
    cfg.write_text("[segment]\nmin_score = 0.5\n[render]\nazimuth = 'grid:4'\n")
    assert load_config(cfg)["segment"]["min_score"] == 0.5
    for bad, message in (("[segment]\nmin_scor = 0.5\n", "unknown key 'min_scor' in "
                                                           "\\[segment\\]"),
                         ("[render]\nviews = 'many'\n", "views = 'many' is not a valid int"),
                         ("[pose]\nlr = true\n", "lr = True is not a valid float"),
                         ("threads = -1\n", "threads = -1: must be a whole number >= 0"),
                         ("[stylizer]\nplugin = 'nope'\n", "no stylizer named 'nope'")):
        cfg.write_text(bad)
        with pytest.raises((ValueError, LookupError), match=message):
            load_config(cfg)
