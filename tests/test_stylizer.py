"""The AIST stylizer: network shapes, each loss term, overfitting, bit-exact resume,
checkpoint checks, and stylizing a rendered dataset without touching its annotations."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from aist_app.api.progress import drain
from aist_app.dataset import Dataset
from aist_app.dataset.writer import DatasetWriter
from aist_plugins.cyclegan import checkpoint as ckpt_io
from aist_plugins.cyclegan.config import PRESETS, StylizerConfig
from aist_plugins.cyclegan.losses import (
    alpha_loss,
    hard_alpha,
    lsgan,
    resdist_loss,
    soft_alpha,
    squared_l1,
)
from aist_plugins.cyclegan.networks import init_weights, patch_discriminator, resnet_generator

from .conftest import SHARED_DATA, require_shared

AIST = str(Path(sys.executable).with_name("aist"))




def _render(out: Path, size=(32, 32), views=4) -> Path:
    from aist_app.api.manager import create_plugin_manager
    from aist_app.render.pipeline import RenderConfig, render_collection

    require_shared()
    cls = create_plugin_manager().stage("renderer", "pyrender").factory
    cfg = RenderConfig(views=views, image_size=size, device="cpu", points=500, depth=True)
    drain(render_collection(SHARED_DATA / "meshes", out, cfg, cls))
    return out


def _real(out: Path, n: int = 6, size: int = 32) -> Path:
    """A small real dataset: textured ellipses of different sizes and colours."""
    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[:size, :size]
    with DatasetWriter(out, kind="real", image_size=(size, size)) as w:
        for k in range(n):
            r = size * rng.uniform(0.2, 0.4)
            m = ((yy - size / 2) / (0.6 * r)) ** 2 + ((xx - size / 2) / r) ** 2 <= 1
            rgba = np.zeros((size, size, 4), np.uint8)
            rgba[..., :3] = (rng.uniform(30, 220, 3) + rng.normal(0, 20, (size, size, 3))
                             ).clip(1, 255).astype(np.uint8)
            rgba[..., 3] = m * 255
            rgba[~m, :3] = 0
            with w.object(f"photo{k}_00") as obj:
                obj.add_view(rgba)
                obj.set_provenance({"photo": f"photo{k}.jpg"})
        w.finalize(splits={"train": [f"photo{k}_00" for k in range(n - 2)], "val": [],
                           "test": [f"photo{k}_00" for k in range(n - 2, n)]})
    return out


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    root = tmp_path_factory.mktemp("stylizer")
    return _render(root / "synthetic"), _real(root / "real")


def tiny(**kw) -> StylizerConfig:
    base = dict(size=32, batch=2, ngf=8, ndf=8, n_blocks=2, steps=4, device="cpu",
                feature_net="efficientnet-lite0", checkpoint_every=2, sample_every=2,
                eval_every=2, log_every=1, pool_size=3)
    base.update(kw)
    return StylizerConfig.from_preset("constrained", **base)


# -- networks -----------------------------------------------------------------------------------
def test_generator_and_discriminator_shapes():
    G = resnet_generator()
    D = patch_discriminator()
    x = torch.rand(1, 3, 256, 256) * 2 - 1
    with torch.no_grad():
        y = G(x)
        assert y.shape == x.shape and y.abs().max() <= 1
        assert D(x).shape == (1, 1, 30, 30)  # the 70x70 PatchGAN's 30x30 map
    assert sum(isinstance(m, torch.nn.InstanceNorm2d) for m in G.modules()) == 2 * 9 + 5
    assert sum(isinstance(m, torch.nn.InstanceNorm2d) for m in D.modules()) == 3
    assert not any(m.affine for m in G.modules() if isinstance(m, torch.nn.InstanceNorm2d))
    init_weights(D, std=0.02, generator=torch.Generator().manual_seed(0))
    w = torch.cat([m.weight.detach().flatten() for m in D.modules()
                   if isinstance(m, torch.nn.Conv2d)])
    assert abs(float(w.std()) - 0.02) < 0.002 and abs(float(w.mean())) < 0.001


def test_residual_generator_starts_as_the_identity_and_learns():
    G = resnet_generator(ngf=8, n_blocks=1, residual=True)
    init_weights(G, std=0.02, generator=torch.Generator().manual_seed(0))
    x = _masked_image()
    with torch.no_grad():
        assert torch.equal(G(x), x)  # background stays exactly -1
    plain = resnet_generator(ngf=8, n_blocks=1)
    init_weights(plain, std=0.02, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert not torch.allclose(plain(x), x, atol=0.05)
    # The zeroed last convolution still learns (its gradient is not zero).
    G(x).add(0.5).square().mean().backward()
    last = [m for m in G.modules() if isinstance(m, torch.nn.Conv2d)][-1]
    assert last.weight.grad.abs().sum() > 0


# -- losses -------------------------------------------------------------------------------------
def _masked_image(seed=0, n=2, size=32):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 3, size, size, generator=g) * 1.8 - 0.9
    x[:, :, :, : size // 3] = -1.0  # background
    return x


def test_alpha_terms():
    x = _masked_image()
    assert torch.equal(hard_alpha(x), soft_alpha(x))  # exact on background and colours
    assert float(alpha_loss(x, x)) == 0.0  # identical masks
    y = x.clone()
    y[:, :, :, : 32 // 3] = 0.5  # the output paints over the whole background
    frac = (32 // 3) / 32
    assert float(alpha_loss(x, y)) == pytest.approx(frac ** 2, rel=1e-5)
    y.requires_grad_(True)
    near = x.clone()
    near[:, :, :, :2] = -0.998  # nearly background: the surrogate has a gradient there
    near.requires_grad_(True)
    alpha_loss(x, near).backward()
    assert near.grad.abs().sum() > 0
    # The darkest colour-corrected pixel (1/255, i.e. -1 + 2/255) counts as object.
    corrected = torch.full((1, 3, 4, 4), -1.0)
    corrected[..., 0, 0] = 1 / 255 * 2 - 1
    assert float(soft_alpha(corrected)[0, 0, 0, 0]) == 1.0
    assert torch.equal(soft_alpha(corrected), hard_alpha(corrected))


def test_generator_slope_and_no_clipping_by_default():
    """The report's generator: leaky ReLU 0.01; no gradient clipping, fp32 by default."""
    from aist_plugins.cyclegan.config import StylizerConfig
    from aist_plugins.cyclegan.networks import resnet_generator

    slopes = {m.negative_slope for m in resnet_generator(n_blocks=1).modules()
              if isinstance(m, torch.nn.LeakyReLU)}
    assert slopes == {0.01}
    c = StylizerConfig()
    assert c.clip_grad_value is None and c.clip_grad_norm is None and c.amp is False
    assert StylizerConfig.from_dict({"clip_grad": 5.0}).clip_grad_norm == 5.0  # old runs


def test_resdist_and_lsgan():
    from aist_app.stylize.features import efficientnet_lite0_features

    phi = efficientnet_lite0_features()
    assert not any(p.requires_grad for p in phi.parameters()) and not phi.training
    phi.train()
    assert not phi.training  # stays frozen in eval mode
    x = _masked_image(n=2, size=64)
    assert float(resdist_loss(phi, x, x)) == 0.0
    assert float(resdist_loss(phi, x, x.flip(-1))) > 0
    p = torch.full((2, 1, 30, 30), 0.25)
    assert float(lsgan(p, True)) == pytest.approx(0.5625)
    assert float(lsgan(p, False)) == pytest.approx(0.0625)
    assert float(squared_l1(torch.zeros(3, 4), torch.ones(3, 4) * 2)) == 4.0


def test_presets_and_overrides():
    c = StylizerConfig.from_preset("less-constrained", lambda_alpha=3.0)
    assert (c.lambda_a, c.lambda_idt, c.lambda_alpha, c.lambda_resdist) == (10, 0.1, 3.0, 1.25)
    assert PRESETS["constrained"]["lambda_resdist"] == 1.75
    with pytest.raises(ValueError, match="preset"):
        StylizerConfig.from_preset("nope")


def test_missing_resnet18_weights_is_a_clear_error(tmp_path, monkeypatch):
    from aist_app.stylize.features import resnet18_features

    monkeypatch.setenv("AIST_WEIGHTS_DIR", str(tmp_path))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(FileNotFoundError) as e:
        resnet18_features()
    msg = str(e.value)
    assert "resnet18-f37072fd.pth" in msg and "AIST_WEIGHTS_DIR" in msg
    assert "efficientnet-lite0" in msg and "random" in msg
    # A state dict of the real architecture (here random) in the right place loads.
    from torchvision.models import resnet18

    torch.save(resnet18(weights=None).state_dict(), tmp_path / "resnet18-f37072fd.pth")
    phi = resnet18_features()
    assert phi(torch.zeros(1, 3, 64, 64)).shape == (1, 512, 2, 2)


# -- training -----------------------------------------------------------------------------------
@pytest.mark.slow  # > 3 s (the fast loop: pytest -m "not slow")
def test_overfit_generator_loss_falls(datasets, tmp_path):
    from aist_plugins.cyclegan.train import Trainer

    syn, real = datasets
    t = Trainer(tiny(steps=40, checkpoint_every=100, sample_every=100, eval_every=100,
                     lr=1e-3), syn, real, tmp_path / "run")
    losses = [p.losses["G"] for p in t.run() if p.event == "step"]
    assert np.mean(losses[-8:]) < 0.7 * np.mean(losses[:8])


@pytest.mark.slow  # > 3 s (the fast loop: pytest -m "not slow")
def test_resume_equals_uninterrupted(datasets, tmp_path):
    from aist_plugins.cyclegan.train import Trainer

    syn, real = datasets
    a = Trainer(tiny(), syn, real, tmp_path / "a")
    drain(a.run())
    b = Trainer(tiny(), syn, real, tmp_path / "b")
    for p in b.run():  # "crash" right after the first checkpoint
        if p.event == "checkpoint":
            assert p.step == 2
            break
    del b
    b = Trainer(tiny(), syn, real, tmp_path / "b", resume=True)
    assert b.step == 2
    drain(b.run())
    sa, sb = a.state(), b.state()
    for net in ("G", "F", "D_X", "D_Y"):
        for k, v in sa["models"][net].items():
            assert torch.equal(v, sb["models"][net][k]), (net, k)
    for k in ("G", "D"):
        ea, eb = sa["optim"][k]["state"], sb["optim"][k]["state"]
        assert all(torch.equal(ea[i]["exp_avg"], eb[i]["exp_avg"]) for i in ea)
    assert torch.equal(sa["pools"]["X"], sb["pools"]["X"])
    assert torch.equal(sa["rng"]["generator"], sb["rng"]["generator"])
    assert sa["step"] == sb["step"] == 4
    # The run folder has what a user looks at.
    run = tmp_path / "a"
    for name in ("metrics.jsonl", "loss_curves.png", "config.json", "samples/step_0000004.png"):
        assert (run / name).is_file(), name
    assert '"mask_iou"' in (run / "metrics.jsonl").read_text()
    assert '"kid"' in (run / "metrics.jsonl").read_text()


@pytest.mark.slow  # > 3 s (the fast loop: pytest -m "not slow")
def test_weight_average_stylizes_and_resumes(datasets, tmp_path):
    """``ema``: G_ema <- ema * G_ema + (1 - ema) * G after every step, kept in the checkpoint
    (a resume continues it exactly) and used by the stylizer; without it, G is."""
    from aist_plugins.cyclegan.apply import Stylizer
    from aist_plugins.cyclegan.train import Trainer

    syn, real = datasets
    t = Trainer(tiny(ema=0.75, steps=3), syn, real, tmp_path / "a")
    g = [p.detach().clone() for p in t.nets["G"].parameters()]
    expected = g
    for _ in range(3):
        t.train_step()
        g = [p.detach().clone() for p in t.nets["G"].parameters()]
        expected = [0.75 * e + 0.25 * p for e, p in zip(expected, g, strict=True)]
    for e, p in zip(expected, t.G_ema.parameters(), strict=True):
        torch.testing.assert_close(p, e)
    assert not all(torch.equal(e, p) for e, p in zip(expected, g, strict=True))
    t.save_checkpoint()
    styl = Stylizer(tmp_path / "a", device="cpu")
    for a, b in zip(styl.G.parameters(), t.G_ema.parameters(), strict=True):
        assert torch.equal(a, b)
    a = Trainer(tiny(ema=0.75), syn, real, tmp_path / "b")
    drain(a.run())
    b = Trainer(tiny(ema=0.75), syn, real, tmp_path / "c")
    for p in b.run():  # "crash" after the first checkpoint, then resume
        if p.event == "checkpoint":
            break
    b = Trainer(tiny(ema=0.75), syn, real, tmp_path / "c", resume=True)
    drain(b.run())
    for k, v in a.state()["models"]["G_ema"].items():
        assert torch.equal(v, b.state()["models"]["G_ema"][k]), k
    plain = Trainer(tiny(steps=1), syn, real, tmp_path / "d")
    assert plain.G_ema is None and "G_ema" not in plain.state()["models"]


def test_checkpoints_are_checked(datasets, tmp_path):
    from aist_plugins.cyclegan.apply import Stylizer
    from aist_plugins.cyclegan.train import Trainer

    syn, real = datasets
    t = Trainer(tiny(steps=1), syn, real, tmp_path / "run")
    path = t.save_checkpoint()
    ck = torch.load(path, weights_only=True)  # weights-only loadable
    assert ck["format"] == "aist-stylizer" and ck["config"]["ngf"] == 8 and ck["aist_version"]
    bad = dict(ck)
    bad["config"] = {**ck["config"], "ngf": 16}
    ckpt_io.save(tmp_path / "wrong.pt", {k: v for k, v in bad.items()
                                         if k not in ("format", "aist_version")})
    with pytest.raises(ckpt_io.CheckpointError, match="does not match this architecture"):
        Stylizer(tmp_path / "wrong.pt", device="cpu")
    torch.save({"weights": torch.zeros(3)}, tmp_path / "other.pt")
    with pytest.raises(ckpt_io.CheckpointError, match="not an AIST stylizer"):
        Stylizer(tmp_path / "other.pt", device="cpu")
    (tmp_path / "trunc.pt").write_bytes(path.read_bytes()[:1000])
    with pytest.raises(ckpt_io.CheckpointError, match="unreadable"):
        Stylizer(tmp_path / "trunc.pt", device="cpu")


# -- stylizing ----------------------------------------------------------------------------------
def _tiny_run(datasets, tmp_path) -> Path:
    from aist_plugins.cyclegan.train import Trainer

    syn, real = datasets
    drain(Trainer(tiny(steps=2), syn, real, tmp_path / "run").run())
    return tmp_path / "run"


@pytest.mark.slow  # > 3 s (the fast loop: pytest -m "not slow")
@pytest.mark.parametrize("size", [(32, 32), (37, 50)])
def test_stylize_keeps_masks_and_annotations(datasets, tmp_path, size):
    from aist_plugins.cyclegan.apply import stylize_dataset

    run = _tiny_run(datasets, tmp_path)
    src = _render(tmp_path / "src", size=size, views=3) if size != (32, 32) else datasets[0]
    out = tmp_path / "styled"
    summary = drain(stylize_dataset(run, src, out, batch=5, device="cpu"))
    a, b = Dataset.open(src), Dataset.open(out)  # full validation of the output
    assert b.kind == "stylized" and b.image_size == a.image_size == size
    assert b.source["checkpoint"] == str(run / "checkpoints" / "last.pt")
    assert a.object_ids() == b.object_ids() and summary.views == sum(
        len(a.view_files(o)) for o in a.object_ids())
    assert a.splits == b.splits
    changed = 0
    for oid in a.object_ids():
        for name in ("cameras.json", "points.npz"):
            assert (a.object_dir(oid) / name).read_bytes() == (b.object_dir(oid) / name
                                                               ).read_bytes()
        for f in a.view_files(oid):
            va, vb = a.load_view(oid, f), b.load_view(oid, f)
            assert np.array_equal(va[..., 3], vb[..., 3])  # the mask, exactly
            assert (vb[va[..., 3] == 0, :3] == 0).all()
            changed += int(not np.array_equal(va[..., :3], vb[..., :3]))
    assert changed > 0


@pytest.mark.slow  # > 3 s (the fast loop: pytest -m "not slow")
def test_cli_train_size_64_and_stylize(datasets, tmp_path):
    syn, real = datasets
    env = {**os.environ, "PYOPENGL_PLATFORM": "egl"}
    run = tmp_path / "run"
    p = subprocess.run([AIST, "train-stylizer", "--synthetic", str(syn), "--real", str(real),
                        "--out", str(run), "--size", "64", "--steps", "2", "--batch", "1",
                        "--feature-net", "efficientnet-lite0", "--device", "cpu"],
                       capture_output=True, text=True, env=env, timeout=600)
    assert p.returncode == 0, p.stderr
    assert "feature network: efficientnet-lite0" in p.stdout
    p = subprocess.run([AIST, "train-stylizer", "--resume", str(run), "--steps", "3"],
                       capture_output=True, text=True, env=env, timeout=600)
    assert p.returncode == 0 and "resuming" in p.stdout and "step 2 of 3" in p.stdout, p.stderr
    assert torch.load(run / "checkpoints" / "last.pt", weights_only=True)["step"] == 3
    p = subprocess.run([AIST, "stylize", str(run), str(syn), str(tmp_path / "out"), "--device",
                        "cpu"], capture_output=True, text=True, env=env, timeout=600)
    assert p.returncode == 0, p.stderr
    assert Dataset.open(tmp_path / "out").kind == "stylized"
