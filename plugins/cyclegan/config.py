"""Stylizer configuration: a dataclass saved in every checkpoint, with the report's presets."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

#: Table 6.1 of the report.
PRESETS: dict[str, dict[str, float]] = {
    "constrained": {"lambda_a": 10.0, "lambda_b": 10.0, "lambda_idt": 0.1,
                    "lambda_alpha": 2.0, "lambda_resdist": 1.75},
    "less-constrained": {"lambda_a": 10.0, "lambda_b": 10.0, "lambda_idt": 0.1,
                         "lambda_alpha": 1.0, "lambda_resdist": 1.25},
    "cyclegan": {"lambda_a": 10.0, "lambda_b": 10.0, "lambda_idt": 0.5,
                 "lambda_alpha": 0.0, "lambda_resdist": 0.0},
}
FEATURE_NETS = ("resnet18", "efficientnet-lite0")


@dataclass
class StylizerConfig:
    preset: str = "constrained"
    lambda_a: float = 10.0  # cycle X -> Y -> X
    lambda_b: float = 10.0  # cycle Y -> X -> Y
    lambda_idt: float = 0.1  # identity, times lambda_a / lambda_b
    lambda_alpha: float = 2.0
    lambda_resdist: float = 1.75
    feature_net: str = "resnet18"
    feature_weights: str | None = None
    size: int = 256
    batch: int = 4
    epochs: int = 44
    steps: int | None = None  # stop after this many optimizer steps (smoke runs)
    lr: float = 2e-4
    beta1: float = 0.5
    decay_epochs: int = 0  # linear decay to 0 over the last N epochs (0: constant lr)
    pool_size: int = 50
    clip_grad_value: float | None = None  # clip each gradient to [-v, v] (Unsup3D: 5)
    clip_grad_norm: float | None = None  # clip the joint gradient norm (the report: none)
    init_std: float = 0.02
    ngf: int = 64
    ndf: int = 64
    n_blocks: int = 9
    flip: bool = True
    seed: int = 0
    device: str = "auto"
    amp: bool = False  # bf16 autocast (fp16 + scaler on old cards); fp32 as the report
    channels_last: bool | None = None  # memory format; None: channels-last on CUDA only
    checkpoint_every: int = 500  # steps
    sample_every: int = 200  # steps
    eval_every: int = 500  # steps (mask IoU, KID on held-out images)
    log_every: int = 10

    @classmethod
    def from_preset(cls, preset: str = "constrained", **overrides: Any) -> StylizerConfig:
        if preset not in PRESETS:
            raise ValueError(f"--preset {preset!r}: use one of {sorted(PRESETS)}")
        values = {**PRESETS[preset], **{k: v for k, v in overrides.items() if v is not None}}
        return cls(preset=preset, **values)

    def validate(self) -> None:
        if self.feature_net not in FEATURE_NETS:
            raise ValueError(f"--feature-net {self.feature_net!r}: use one of {FEATURE_NETS}")
        if self.size < 32 or self.size % 4:
            raise ValueError(f"--size {self.size}: use a multiple of 4, at least 32")
        from aist_app.common.devices import parse_device
        from aist_app.stages.config import check_bounds

        check_bounds(self, {
            "batch": (1, None), "epochs": (1, None), "decay_epochs": (0, None),
            "pool_size": (0, None), "ngf": (1, None), "ndf": (1, None), "n_blocks": (0, None),
            "seed": (0, None), "checkpoint_every": (1, None), "sample_every": (1, None),
            "eval_every": (1, None), "log_every": (1, None), "lambda_a": (0, None),
            "lambda_b": (0, None), "lambda_idt": (0, None), "lambda_alpha": (0, None),
            "lambda_resdist": (0, None), "beta1": (0, 1)},
            positive=("lr", "init_std"))
        for name in ("steps", "clip_grad_value", "clip_grad_norm"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f"--{name.replace('_', '-')} {value!r}: must be positive")
        parse_device(self.device)

    @property
    def needs_features(self) -> bool:
        return self.lambda_resdist > 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> StylizerConfig:
        names = {f.name for f in fields(cls)}
        d = dict(d)
        if "clip_grad" in d and "clip_grad_norm" not in d:  # checkpoints before the split
            d["clip_grad_norm"] = d["clip_grad"]
        return cls(**{k: v for k, v in d.items() if k in names})
