"""The category-prototype warm-up (``prototype_warmup``, a lever of issue 33, off by
default): one shared shape first, the images' own latents released after."""

from __future__ import annotations

import pytest
import torch

from aist_plugins.dpc.config import PoseConfig
from aist_plugins.dpc.model import dpc_model, weight_decay_loss

SMALL = dict(image_size=32, f_dim=4, fc_dim=16, z_dim=16, num_points=50, pc_rgb=True)


def test_the_prototype_is_shared_then_released():
    torch.manual_seed(0)
    model = dpc_model(config=PoseConfig(prototype_warmup=0.3, **SMALL)).eval()
    images = torch.rand(3, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        model.set_prototype_mix(0.0)
        shared = model(images)
        model.set_prototype_mix(1.0)
        own = model(images)
        z = model.fc3(model._trunk(images))
    for key in ("points", "rgb", "scale"):  # one shape, colour and scale for every image
        assert torch.equal(shared[key][0], shared[key][1]), key
        assert torch.equal(shared[key][0], shared[key][2]), key
    assert not torch.allclose(own["points"][0], own["points"][1])
    assert torch.allclose(own["points"], model.decode(z)[0])  # released: the reference's
    # Poses never go through the prototype.
    assert torch.equal(shared["candidates"], own["candidates"])


def test_the_prototype_schedule_and_what_it_trains():
    from aist_plugins.dpc.train import PoseTrainer

    cfg = PoseConfig(prototype_warmup=0.3, prototype_release=0.1, steps=100, **SMALL)
    mix = PoseTrainer.prototype_mix
    fake = type("T", (), {"config": cfg})()
    assert [mix(fake, s) for s in (0, 30, 35, 40, 99)] == [0.0, 0.0, pytest.approx(0.5),
                                                             1.0, 1.0]
    torch.manual_seed(0)
    model = dpc_model(config=cfg)
    model.set_prototype_mix(0.0)
    out = model(torch.rand(2, 3, 32, 32) * 2 - 1)
    (out["points"].square().sum() + out["rgb"].sum()).backward()
    assert model.prototype.grad.abs().sum() > 0
    g = model.fc3[0].weight.grad  # the images' latents do not shape anything yet
    assert g is None or not g.any()
    # Not a reference variable: never weight-decayed; the buffer travels with checkpoints.
    assert "prototype_mix" in model.state_dict()
    plain = dpc_model(config=PoseConfig(**SMALL))
    plain.load_state_dict({k: v for k, v in model.state_dict().items()
                           if not k.startswith("prototype")})
    assert torch.equal(weight_decay_loss(model), weight_decay_loss(plain))


def test_prototype_settings_are_checked():
    with pytest.raises(ValueError, match="--prototype-warmup 1.5: must be at most 1"):
        PoseConfig(prototype_warmup=1.5).validate()
