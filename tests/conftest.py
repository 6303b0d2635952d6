"""Shared fixtures: real meshes from ../shared/data, datasets rendered once per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("AIST_SHARED_DATA", ROOT.parent / "shared" / "data"))
MESHES = SHARED_DATA / "meshes"
AIRPLANE = MESHES / "02691156" / "1caa02b831cccff090baeef8ba5b93e5"
CHAIR = MESHES / "03001627" / "21bfb150cfc23accb01c58badc8bbc39"

os.environ.setdefault("PYOPENGL_PLATFORM", "egl")


#: What makes a test slow, by the fixtures it uses: Blender's Cycles renders, a whole
#: experiment. ``pytest -m "not slow"`` is the fast loop (docs/testing.md); `.ci/run` runs
#: everything. Modules that are slow throughout say so with ``pytestmark``.
SLOW_FIXTURES: dict[str, tuple[str, ...]] = {
    "blender_dataset": ("slow", "blender"),
    "cpu_experiment": ("slow",),
}


def pytest_collection_modifyitems(config, items) -> None:
    for item in items:
        for fixture, marks in SLOW_FIXTURES.items():
            if fixture in getattr(item, "fixturenames", ()):
                for mark in marks:
                    item.add_marker(mark)


@pytest.fixture(autouse=True)
def _own_cache_dir(tmp_path_factory, monkeypatch) -> None:
    """Caches (the Compare page's predictions) go to a temp folder, not the user's."""
    monkeypatch.setenv("AIST_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))


def require_shared() -> Path:
    if not MESHES.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"shared test meshes not found at {MESHES}: CI must run with them")
        pytest.skip(f"shared test meshes not found at {MESHES} (set AIST_SHARED_DATA)")
    return MESHES


@pytest.fixture(scope="session")
def shared_meshes() -> Path:
    return require_shared()


def _render(out: Path, renderer: str, views: int = 5, **kw):
    from aist_app.api.manager import create_plugin_manager
    from aist_app.api.progress import drain
    from aist_app.render.pipeline import RenderConfig, render_collection

    cls = create_plugin_manager().stage("renderer", renderer).factory
    cfg = RenderConfig(renderer=renderer, views=views, device="cpu", **kw)
    return drain(render_collection(require_shared(), out, cfg, cls))


def _rendered(tmp_path_factory, renderer: str) -> Path:
    out = tmp_path_factory.mktemp("render") / renderer
    summary = _render(out, renderer, depth=True)
    assert not summary.failed, summary.failed
    return out


@pytest.fixture(scope="session")
def pyrender_dataset(tmp_path_factory) -> Path:
    return _rendered(tmp_path_factory, "pyrender")


@pytest.fixture(scope="session")
def blender_dataset(tmp_path_factory) -> Path:
    return _rendered(tmp_path_factory, "blender")


#: The cpu preset shrunk for CI: generated cars, a Blender target, one stylizer, two pose
#: models, evaluations with per-view figures, the report.
CPU_EXPERIMENT = """preset = "cpu"
[cars]
count = 10
[render]
views = 4
[target]
views = 2
samples = 2
supersample = 1
[stylizer]
steps = 2
[pose]
steps = 4
checkpoint_every = 2
val_every = 2
pose_eval_every = 2
pose_eval_objects = 1
batch_objects = 2
views_per_object = 2
[evaluate]
bootstrap = 50
"""


@pytest.fixture(scope="session")
def cpu_experiment(tmp_path_factory) -> tuple[Path, object]:
    """(experiment folder, the finished `aist experiment` process); a recording plugin is
    installed for it (``exp.hooks.jsonl``: every ``aist_dataset_written`` call)."""
    import subprocess
    import sys

    from tests.helpers.recording_plugin import install

    tmp = tmp_path_factory.mktemp("cpu-experiment")
    hooks = install(tmp / "site", tmp / "exp.hooks.jsonl")
    cfg = tmp / "cpu.toml"
    cfg.write_text(CPU_EXPERIMENT)
    out = tmp / "exp"
    aist = str(Path(sys.executable).with_name("aist"))
    p = subprocess.run([aist, "experiment", str(cfg), "--out", str(out), "--progress",
                        "jsonl"], capture_output=True,
                       text=True, env={**os.environ, "PYOPENGL_PLATFORM": "egl", **hooks},
                       timeout=900)
    return out, p

