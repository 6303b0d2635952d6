import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from aist_app import hookimpl
from aist_app.api.contracts import PoseModel
from aist_app.api.manager import create_plugin_manager
from aist_app.api.registry import StageNotFoundError, StageRegistry
from aist_app.api.renderer import Renderer
from aist_app.api.segmenter import Segmenter

ROOT = Path(__file__).resolve().parents[1]
AIST = Path(sys.executable).parent / "aist"


def test_builtins_come_from_entry_points():
    pm = create_plugin_manager()
    names = {(s.kind, s.name): s.plugin for s in pm.registry.list()}
    assert names[("renderer", "pyrender")] == "pyrender"
    assert names[("renderer", "blender")] == "blender"


def test_autoload_can_be_disabled(monkeypatch):
    monkeypatch.setenv("AIST_DISABLE_PLUGIN_AUTOLOAD", "1")
    assert create_plugin_manager().registry.list() == []
    monkeypatch.delenv("AIST_DISABLE_PLUGIN_AUTOLOAD")
    monkeypatch.setenv("AIST_DISABLED_PLUGINS", "blender")
    assert create_plugin_manager().registry.names("renderer") == ["pyrender"]


class _Renderer(Renderer):
    """A renderer that declares the contract's operations."""

    name = "x"

    def __init__(self, options):
        self.options = options

    def render(self, mesh, views):
        return iter(())


def test_registry_rejects_duplicates_and_bad_kinds():
    R = _Renderer

    reg = StageRegistry()
    reg.add_renderer(R)
    with pytest.raises(ValueError, match="registered twice"):
        reg.add_renderer(R)
    with pytest.raises(ValueError, match="unknown stage kind"):
        reg._add("painter", R)
    with pytest.raises(StageNotFoundError, match="installed: x"):
        reg.get("renderer", "nope")


def test_registry_refuses_a_class_that_breaks_its_contract():
    """The contract is checked when a stage registers: the base class, every required
    operation, and signatures the core can call (optional capabilities included)."""
    reg = StageRegistry()

    class NotARenderer:
        name = "n"

        def render(self, mesh, views):
            return iter(())

    with pytest.raises(ValueError, match="does not subclass aist_app.api.renderer.Renderer"):
        reg.add_renderer(NotARenderer)

    class NoRender(Renderer):
        name = "n"

        def __init__(self, options):
            pass

    with pytest.raises(ValueError, match="render: not implemented"):
        reg.add_renderer(NoRender)

    class BadRender(_Renderer):
        name = "b"

        def render(self, mesh):  # the core passes the views too
            return iter(())

    with pytest.raises(ValueError, match="render: takes 1 positional arguments, the core "
                                         "passes 2"):
        reg.add_renderer(BadRender)

    class BadEvaluate(PoseModel):
        name = "p"

        @staticmethod
        def config_class():
            return dict

        @staticmethod
        def trainer(config, dataset, run_dir, *, resume=False, overwrite=False):
            raise NotImplementedError

        @staticmethod
        def resume(run, *, steps=None, device="auto"):
            raise NotImplementedError

        @staticmethod
        def predictor(run, *, device="auto"):
            raise NotImplementedError

        @staticmethod
        def evaluate(run, test_sets, out, *, device="auto"):  # no progress, no options
            return {}

    with pytest.raises(ValueError, match="evaluate: has no keyword argument 'progress'"):
        reg.add_pose_model(BadEvaluate)
    BadEvaluate.evaluate = None  # an optional capability left out is fine
    reg.add_pose_model(BadEvaluate)
    assert reg.get("pose_model", "p").factory.evaluate is None


def test_registering_an_object_by_hand():
    class Seg(Segmenter):
        """Finds cars."""

        name = "toyseg"

        def __init__(self, options):
            pass

        def segment(self, images):
            return [[] for _ in images]

        def describe(self):
            return {"segmenter": "toyseg"}

    class Plugin:
        @hookimpl
        def aist_register_stages(self, registry):
            registry.add_segmenter(Seg)

    pm = create_plugin_manager(entry_points=False)
    pm.register(Plugin(), name="toy")
    info = pm.stage("segmenter", "toyseg")
    assert info.description == "Finds cars." and info.plugin == "toy" and not info.needs_gpu


def test_listing_stages_imports_no_heavy_module():
    code = (
        "import sys\n"
        "from aist_app.api.manager import create_plugin_manager\n"
        "stages = create_plugin_manager().registry.list()\n"
        "assert len(stages) >= 2\n"
        "mods = ('torch', 'bpy', 'pyrender', 'OpenGL', 'trimesh')\n"
        "heavy = [m for m in mods if m in sys.modules]\n"
        "print(heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_hooks_are_documented():
    doc = (ROOT / "docs" / "plugin-hooks.md").read_text()
    pm = create_plugin_manager(entry_points=False)
    for name in dir(pm.pm.hook):
        if name.startswith("aist_"):
            caller = getattr(pm.pm.hook, name)
            args = ", ".join(caller.spec.argnames)
            assert f"{name}({args})" in doc, f"{name} is not documented"


TOY_PLUGIN = '''
"""A throw-away third-party renderer: flat silhouettes by splatting surface samples."""
import numpy as np
from aist_app import hookimpl
from aist_app.api.renderer import RenderedView, Renderer


class ToyRenderer(Renderer):
    name = "toy"
    description = "splats surface samples (test plugin)"
    needs_gpu = False

    def __init__(self, options):
        self.options = options

    def render(self, mesh, views):
        from aist_app.scene.cameras import points_mask
        from aist_app.scene.meshes import sample_surface

        pts, _ = sample_surface(mesh, 200000, 0)
        for job in views:
            m = points_mask(pts, job.camera, self.options.image_size)
            rgba = np.zeros(m.shape + (4,), np.uint8)
            rgba[m] = (200, 60, 60, 255)
            yield RenderedView(rgba=rgba)

    def close(self):
        pass


@hookimpl
def aist_register_stages(registry):
    registry.add_renderer(ToyRenderer)
'''


def test_third_party_plugin_through_the_cli(tmp_path, shared_meshes):
    """A plugin installed only through its entry point is listed and used by `aist`."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "aist_toy_plugin.py").write_text(TOY_PLUGIN)
    dist = site / "aist_toy_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: aist-toy-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[aist.plugins]\ntoy = aist_toy_plugin\n")
    env = {**os.environ, "PYTHONPATH": str(site)}
    out = subprocess.run([str(AIST), "plugins"], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert re.search(r"renderer\s+toy\s+splats surface samples.*\[toy: aist_toy_plugin\]",
                     out.stdout)
    ds = tmp_path / "ds"
    out = subprocess.run(
        [str(AIST), "render", str(shared_meshes / "03001627"), str(ds), "--renderer", "toy",
         "--views", "2", "--points", "2000"],
        env=env, capture_output=True, text=True,
    )
    assert out.returncode == 0, out.stderr
    assert "1 rendered" in out.stdout
    from aist_app.dataset import Dataset

    d = Dataset.open(ds)
    assert d.source["plugin"] == "toy" and d.summary()["views"] == 2
