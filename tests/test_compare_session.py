"""The Compare page's state without Qt: a session opens an experiment's evaluations, its
work runs as plain functions (here on this thread) and hands back what it made; nothing in
the work writes the session."""

from __future__ import annotations

import subprocess
import sys

import numpy as np


def test_compare_session_is_qt_free_and_its_work_returns_results(cpu_experiment):
    out, p = cpu_experiment
    assert p.returncode == 0, p.stderr
    code = ("import sys\nimport aist_app.experiments.compare_session\n"
            "print([m for m in sys.modules if m.startswith('PySide6')])")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       check=True)
    assert r.stdout.strip() == "[]"

    from aist_app.api.progress import ItemProgress, Yielded
    from aist_app.experiments.compare import experiment_evaluations
    from aist_app.experiments.compare_session import CacheReady, CompareSession

    session = CompareSession()
    sets = session.open(experiment_evaluations(out))
    assert "target" in sets
    comparison = session.load("target")
    assert comparison.models == ["baseline", "AIST constrained"]
    work = session.fill_work()
    gen, ready, progress = work(), [], 0
    try:
        while True:
            event = next(gen)
            if isinstance(event, Yielded):
                ready.append(event.value)
            else:
                assert isinstance(event, ItemProgress)
                progress += 1
    except StopIteration as stop:
        computed = stop.value
    assert [c.model for c in ready] == ["baseline", "AIST constrained"]
    assert session.caches == {} and computed == progress  # the work wrote nothing
    for c in ready:
        assert isinstance(c, CacheReady)
        session.accept_cache(c)
    row = comparison.rows[0]
    result = session.view_work(row)()
    assert session.data is None and session.evaluators == {}  # still untouched
    session.accept_view(result)
    assert session.data is result.data and set(session.evaluators) <= set(comparison.models)
    assert set(result.projs) == {"baseline", "AIST constrained"}
    cached = session.caches["baseline"].get(row["object"], row["view"])
    assert np.abs(result.projs["baseline"] - cached.proj).max() < 1e-5
    assert result.truth is not None and result.truth[1].shape == (5, 3)


def test_a_view_s_figures_in_words_name_a_front_back_flip():
    from aist_app.experiments.compare import view_figures_text

    text = view_figures_text({"baseline": {"angle_err_deg": 175.04, "chamfer": 8.871},
                              "AIST": {"angle_err_deg": 24.66, "xor": 0.04321}})
    assert text == ("baseline: angle error 175.0° (a front/back flip), Chamfer 8.87 | "
                    "AIST: angle error 24.7°, mask XOR 0.043")
    assert "angle_err_deg" not in text
