"""``maskrcnn``: torchvision's COCO Mask R-CNN (ResNet-50 FPN, v2 by default, v1 selectable).

Weights come from ``--weights PATH``, ``$AIST_WEIGHTS_DIR`` or the torch hub cache, under
torchvision's own file names; missing weights are an error naming the file and where to put
it (never a silent random model). Checkpoints load with ``weights_only=True``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from aist_app import hookimpl
from aist_app.api.segmenter import Instance, Segmenter, SegmenterOptions
from aist_app.common.devices import resolve_device
from aist_app.common.weights import find_weights

#: variant -> (builder name in torchvision.models.detection, weights enum name)
_VARIANTS = {
    "v2": ("maskrcnn_resnet50_fpn_v2", "MaskRCNN_ResNet50_FPN_V2_Weights"),
    "v1": ("maskrcnn_resnet50_fpn", "MaskRCNN_ResNet50_FPN_Weights"),
}
DEFAULT_INPUT = 800  # torchvision's min_size

#: variant -> its name in ``aist weights``
WEIGHTS_NAMES = {"v2": "maskrcnn", "v1": "maskrcnn-v1"}


def weights_filename(variant: str) -> str:
    from torchvision.models import detection

    enum = getattr(detection, _VARIANTS[variant][1])
    return enum.COCO_V1.url.rsplit("/", 1)[1]


def build_model(variant: str = "v2", *, input_size: int = DEFAULT_INPUT,
                score_floor: float = 0.3):
    """The architecture with no weights (torchvision's keyword-only builder)."""
    from torchvision.models import detection

    builder = getattr(detection, _VARIANTS[variant][0])
    return builder(weights=None, weights_backbone=None, num_classes=91, min_size=input_size,
                   max_size=round(input_size * 1333 / 800), box_score_thresh=score_floor,
                   box_detections_per_img=50)


def load_weights(model, path, variant: str) -> None:
    """Load a state dict into ``model``; a file of another architecture is refused clearly."""
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise ValueError(f"{path}: not a readable PyTorch checkpoint ({e})") from None
    if isinstance(state, dict) and "model" in state and isinstance(state["model"], dict):
        state = state["model"]
    if not isinstance(state, dict) or not all(hasattr(v, "shape") for v in state.values()):
        raise ValueError(f"{path}: expected a state dict of tensors")
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    wrong = [k for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or wrong:
        other = "v1" if variant == "v2" else "v2"
        hint = ""
        if set(state) == set(build_model(other).state_dict()):
            hint = f" (these are {other} weights: pass --variant {other})"
        detail = (f"{len(missing)} missing, {len(unexpected)} unexpected, "
                  f"{len(wrong)} of the wrong shape")
        examples = (missing + unexpected + wrong)[:3]
        raise ValueError(f"{path}: not Mask R-CNN {variant} COCO weights: {detail}, e.g. "
                         f"{examples}{hint}")
    model.load_state_dict(state)


class MaskRCNNSegmenter(Segmenter):
    """Instance segmentation with torchvision's COCO Mask R-CNN."""

    name = "maskrcnn"
    description = ("Mask R-CNN ResNet-50 FPN (torchvision, COCO; v2 default, v1 selectable); "
                   "weights from --weights, $AIST_WEIGHTS_DIR or the torch cache")
    needs_gpu = False

    @staticmethod
    def plan(settings: dict, photos: int):
        """Its memory and time for ``aist experiment --dry-run``."""
        return plan_segment(settings, photos)

    @staticmethod
    def network(variant: str = "v2"):
        """The architecture without weights (``aist experiment --dry-run`` measures its
        memory)."""
        return build_model(variant)

    def __init__(self, options: SegmenterOptions) -> None:
        import torch
        from torchvision.models import detection

        variant = options.variant or "v2"
        if variant not in _VARIANTS:
            raise ValueError(f"--variant {variant!r}: use one of {sorted(_VARIANTS)}")
        self.variant = variant
        self.input_size = int(options.input_size or DEFAULT_INPUT)
        filename = weights_filename(variant)
        self.weights = find_weights(filename, options.weights, f"Mask R-CNN {variant} (COCO)",
                                    fetch=WEIGHTS_NAMES[variant])
        self.device = torch.device(resolve_device(options.device))
        model = build_model(variant, input_size=self.input_size,
                            score_floor=options.score_floor)
        load_weights(model, self.weights, variant)
        self.model = model.eval().to(self.device)
        enum = getattr(detection, _VARIANTS[variant][1])
        self.categories = list(enum.COCO_V1.meta["categories"])
        self.batch_size = max(1, options.batch_size)
        self._torch = torch

    def describe(self) -> dict:
        return {"model": _VARIANTS[self.variant][0], "weights": str(self.weights),
                "input_size": self.input_size, "device": str(self.device)}

    def segment(self, images: Sequence[np.ndarray]) -> list[list[Instance]]:
        torch = self._torch
        results: list[list[Instance]] = []
        for start in range(0, len(images), self.batch_size):
            batch = [torch.from_numpy(np.array(im[..., :3], copy=True)).permute(2, 0, 1)
                     .to(self.device, non_blocking=True).float().div_(255.0)
                     for im in images[start:start + self.batch_size]]
            with torch.inference_mode(), torch.autocast(
                    self.device.type, dtype=torch.float16, enabled=self.device.type == "cuda"):
                outputs = self.model(batch)
            for out in outputs:
                masks = (out["masks"][:, 0] > 0.5).cpu().numpy()
                boxes = out["boxes"].float().cpu().numpy()
                found = []
                for k, (label, score) in enumerate(zip(out["labels"].tolist(),
                                                       out["scores"].float().tolist(),
                                                       strict=True)):
                    found.append(Instance(
                        label=self.categories[label] if label < len(self.categories) else
                        str(label), score=float(score),
                        box=tuple(float(v) for v in boxes[k]), mask=masks[k]))
                results.append(found)
        return results

    def close(self) -> None:
        self.model = None


def plan_segment(settings: dict, photos: int):
    """Mask R-CNN v2's memory (the activations of one 800 px photo, by forward hooks) and
    time per photo on this CPU, for ``aist experiment --dry-run``."""
    import torch

    from aist_app.experiments.plan import (
        CUDA_CONTEXT_GB,
        GB,
        OVERHEAD,
        StagePlan,
        fits,
        param_bytes,
    )

    # The architecture only: its memory does not need the weights.
    model = MaskRCNNSegmenter.network("v2").eval()
    peaks: list[int] = []

    def hook(_m, inp, out):
        def size(t):
            if isinstance(t, torch.Tensor):
                return t.numel() * t.element_size()
            if isinstance(t, (list, tuple)):
                return sum(size(u) for u in t)
            if isinstance(t, dict):
                return sum(size(u) for u in t.values())
            return 0
        peaks.append(size(inp) + size(out))

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if not list(m.children())]
    import time

    t0 = time.perf_counter()
    with torch.inference_mode():
        model([torch.rand(3, 600, 800)])
    one = time.perf_counter() - t0
    for h in handles:
        h.remove()
    per = 2 * max(peaks)
    fixed = param_bytes(model)
    return StagePlan("segment", f"{photos} photos, Mask R-CNN v2 at 800 px", batch=2,
                     memory_gb=round((fixed + per * 2) * OVERHEAD / GB + CUDA_CONTEXT_GB, 2),
                     fits=fits(fixed, per), seconds_per_unit=one, unit="photo",
                     units=photos, measured_on="this CPU (architecture, random weights)")


@hookimpl
def aist_register_stages(registry) -> None:
    registry.add_segmenter(MaskRCNNSegmenter)


@hookimpl
def aist_register_weights(weights) -> None:
    from aist_app.common.weights import KnownWeights

    weights.add(KnownWeights(
        "maskrcnn", "Mask R-CNN v2 (COCO), aist segment's default segmenter",
        "torchvision.models.detection", "MaskRCNN_ResNet50_FPN_V2_Weights", "COCO_V1",
        "https://download.pytorch.org/models/maskrcnn_resnet50_fpn_v2_coco-73cbd019.pth"))
    weights.add(KnownWeights(
        "maskrcnn-v1", "Mask R-CNN v1 (COCO), aist segment --variant v1",
        "torchvision.models.detection", "MaskRCNN_ResNet50_FPN_Weights", "COCO_V1",
        "https://download.pytorch.org/models/maskrcnn_resnet50_fpn_coco-bf2d0c1e.pth"))


@hookimpl
def aist_register_checks(checks) -> None:
    checks.require("segment-maskrcnn", "weights:maskrcnn")
