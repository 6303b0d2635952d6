"""The HTML reports come from autoescaped templates: a name is text, never markup."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("jinja2")

NAME = "<b>x&y</b>"
ESCAPED = "&lt;b&gt;x&amp;y&lt;/b&gt;"


def test_an_evaluation_report_escapes_its_set_names(tmp_path):
    from aist_app.pose.evaluate import SetResult, write_report

    name = "<b>x&y<b>"  # a legal folder name: the set an `aist evaluate` can be given
    result = SetResult(name=name, kind="synthetic",
                       metrics={"chamfer": 6.4, "acc30": 0.5, "acc30_constant": 0.25,
                                "acc30_random": 0.03, "median_err_deg": 20.0})
    run = tmp_path / "my-run" / "checkpoints" / "best.pt"
    write_report(tmp_path / "out", str(run), 30, [result], model_name=NAME)
    html = (tmp_path / "out" / "report.html").read_text()
    assert "&lt;b&gt;x&amp;y&lt;b&gt;" in html and ESCAPED in html
    assert "<b>x" not in html
    # The page names its run (not the checkpoint's file alone) and fixed-decimal figures.
    assert "Shape and pose evaluation of my-run" in html and "best.pt" in html
    assert "<td>6.40</td>" in html and "<td>n/a</td>" in html


def test_an_experiment_report_escapes_model_set_and_folder_names(tmp_path):
    from aist_app.experiments.report import write_summary

    root = tmp_path / "exp"
    (root / "eval" / "a&b").mkdir(parents=True)
    reports = {NAME: {NAME: {"chamfer": 6.4, "acc30": 0.5, "acc30_constant": 0.25}}}
    cfg = {"preset": "demo", "seed": 0, "pose": {}}
    page = write_summary(root / "report", reports, root, cfg)
    html = page.read_text()
    assert ESCAPED in html and "<b>x" not in html
    assert 'href="../eval/a%26b/report.html">a&amp;b</a>' in html
    assert "<code>aist experiment --preset cpu --out cpu-experiment</code>" in html
    assert "`" not in html.split("<details>")[0]  # markdown backticks set as code
    assert json.loads((root / "report" / "metrics.json").read_text()) == reports


def test_intervals_over_fewer_than_three_objects_are_not_printed_as_ranges():
    from aist_app.common.html import interval

    iv = {"value": 0.333, "lo": 0.333, "hi": 0.333}
    from aist_app.pose.intervals import MIN_OBJECTS

    assert interval(iv, 3, 1, MIN_OBJECTS) == "0.333 (no interval: 1 test object)"
    assert interval(iv, 3, 12, MIN_OBJECTS) == "0.333 [0.333, 0.333]"
    assert interval(None) == "n/a"
