"""Stylizer configuration: a dataclass saved in every checkpoint, with the report's presets."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from aist_app.api.config import setting

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
    preset: str = setting("constrained", choices=tuple(PRESETS),
                          help="Loss weights of the report's Table 6.1.")
    lambda_a: float = setting(10.0, help="Cycle weight X->Y->X (default: the preset's).")
    lambda_b: float = setting(10.0, help="Cycle weight Y->X->Y (default: the preset's).")
    lambda_idt: float = setting(0.1, help="Identity weight, times lambda-a/b (default: the "
                                "preset's).")
    lambda_alpha: float = setting(2.0, help="Alpha (mask) loss weight (default: the preset's).")
    lambda_resdist: float = setting(1.75, help="Feature-distance (ResDist) weight (default: "
                                    "the preset's).")
    feature_net: str = setting("resnet18", choices=FEATURE_NETS,
                               help="Feature network of ResDist and KID (efficientnet-lite0 "
                                    "works offline).")
    feature_weights: str | None = setting(None, help="Weights file of the feature network "
                                          "(default: found by name, never downloaded).")
    size: int = setting(256, help="Network image size (views are padded/resized to it).")
    batch: int = setting(4, help="Images per step.")
    epochs: int = setting(44, help="Epochs over the larger domain (the report: 44).")
    steps: int | None = setting(None, help="Stop after N optimizer steps (smoke runs; "
                                "default: the epochs'); with --resume: train on to this step.")
    lr: float = setting(2e-4, help="Adam learning rate.")
    beta1: float = 0.5
    decay_epochs: int = setting(0, help="Linear lr decay to 0 over the last N epochs (0: a "
                                "constant lr).")
    ema: float = setting(0.0, help="Stylize with an exponential moving average of G's "
                         "weights, this decay per step (0.99: the last ~100 steps); 0: the last"
                         " G, as the report. A deviation (Yazici et al. 2019, averaging in GAN "
                         "training).")
    pool_size: int = 50
    clip_grad_value: float | None = setting(None, help="Clip each gradient value to [-V, V] "
                                            "(the Unsup3D reproduction uses 5; default: no "
                                            "clipping, as the report).")
    clip_grad_norm: float | None = setting(None, help="Clip the generators' and the "
                                           "discriminators' joint gradient norms to N (default:"
                                           " no clipping, as the report).")
    init_std: float = 0.02
    ngf: int = 64
    ndf: int = 64
    n_blocks: int = 9
    residual: bool = setting(False, help="Generators that add an edit to their input image "
                             "and start as the identity (SimGAN's refiner; a deviation: the "
                             "report's end in tanh).")
    flip: bool = True
    seed: int = 0
    device: str = "auto"
    amp: bool = setting(False, help="bfloat16 autocast (float16 + gradient scaling on cards "
                        "without bf16). Default fp32, as the report; parity measured in "
                        "docs/mixed-precision.md. Slower on most CPUs.")
    channels_last: bool | None = None  # memory format; None: channels-last on CUDA only
    checkpoint_every: int = setting(500, help="Steps between full-state checkpoints.")
    sample_every: int = setting(200, help="Steps between sample grids (RUN/samples).")
    eval_every: int = setting(500, help="Steps between mask-IoU and KID evaluations "
                              "(held-out images).")
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
        from aist_app.api.config import check_bounds
        from aist_app.common.devices import parse_device

        check_bounds(self, {
            "batch": (1, None), "epochs": (1, None), "decay_epochs": (0, None),
            "pool_size": (0, None), "ngf": (1, None), "ndf": (1, None), "n_blocks": (0, None),
            "seed": (0, None), "checkpoint_every": (1, None), "sample_every": (1, None),
            "eval_every": (1, None), "log_every": (1, None), "lambda_a": (0, None),
            "lambda_b": (0, None), "lambda_idt": (0, None), "lambda_alpha": (0, None),
            "lambda_resdist": (0, None), "beta1": (0, 1), "ema": (0, 0.9999)},
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
