"""``deeplab-lite``: a 2.8 MB DeepLab v3 (MobileNetV2, PASCAL VOC) on the CPU through LiteRT.

Semantic "car" pixels are split into instances by connected components; every instance then
goes through the same filters and normalization as Mask R-CNN's. It needs no download (the
model ships with AIST as sample data, Apache-2.0) and runs on a laptop CPU.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from aist_app import hookimpl
from aist_app.api.segmenter import Instance, Segmenter, SegmenterOptions

#: PASCAL VOC classes of the model's 21 outputs -> the COCO-style names the filters use.
_VOC_TO_LABEL = {7: "car", 6: "bus"}
_MIN_PIXELS_FRACTION = 5e-4


class DeepLabLiteSegmenter(Segmenter):
    """DeepLab v3 MobileNetV2 (TFLite, 257x257), instances by connected components."""

    name = "deeplab-lite"

    @staticmethod
    def plan(settings: dict, photos: int):
        """``aist experiment --dry-run``: a 2.8 MB TFLite model on the CPU."""
        from aist_app.experiments.plan import StagePlan

        return StagePlan("segment", f"{photos} photos with deeplab-lite", note="CPU (TFLite)")
    description = ("DeepLab v3 MobileNetV2 (2.8 MB TFLite, CPU, bundled); semantic car pixels "
                   "split into instances by connected components")
    needs_gpu = False

    def __init__(self, options: SegmenterOptions) -> None:
        from ai_edge_litert.interpreter import Interpreter

        from aist_app.common.samples import deeplab_weights

        path = options.weights or str(deeplab_weights())
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{path}: DeepLab TFLite model not found")
        if options.device.startswith("cuda"):
            raise ValueError(f"deeplab-lite runs on the CPU only (got --device {options.device})")
        self.path = path
        try:
            self._interp = Interpreter(model_path=path, num_threads=os.cpu_count() or 1)
            self._interp.allocate_tensors()
        except (ValueError, RuntimeError) as e:
            raise ValueError(f"{path}: not a usable TFLite model ({e})") from None
        inp = self._interp.get_input_details()[0]
        self._in_index = inp["index"]
        self.size = int(inp["shape"][1])
        if options.input_size not in (None, self.size):
            raise ValueError(f"{path}: this model takes {self.size}x{self.size} inputs")
        self._out_index = self._interp.get_output_details()[0]["index"]

    def describe(self) -> dict:
        return {"model": "deeplabv3_mobilenetv2_voc", "weights": self.path,
                "input_size": self.size}

    def _letterbox(self, image: np.ndarray) -> tuple[np.ndarray, float, int, int]:
        from PIL import Image

        h, w = image.shape[:2]
        scale = self.size / max(h, w)
        nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
        small = np.asarray(Image.fromarray(image).resize((nw, nh), Image.Resampling.BILINEAR))
        canvas = np.zeros((self.size, self.size, 3), dtype=np.float32)
        canvas[:nh, :nw] = small.astype(np.float32) / 127.5 - 1.0
        return canvas, scale, nh, nw

    def probabilities(self, image: np.ndarray) -> dict[int, np.ndarray]:
        """Per wanted VOC class: its softmax probability at the photo's resolution."""
        from PIL import Image

        x, _, nh, nw = self._letterbox(image)
        self._interp.set_tensor(self._in_index, x[None])
        self._interp.invoke()
        logits = self._interp.get_tensor(self._out_index)[0, :nh, :nw].astype(np.float32)
        logits -= logits.max(axis=-1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(axis=-1, keepdims=True)
        h, w = image.shape[:2]
        out = {}
        for cls in _VOC_TO_LABEL:
            small = Image.fromarray(np.ascontiguousarray(p[..., cls]), mode="F")
            out[cls] = np.asarray(small.resize((w, h), Image.Resampling.BILINEAR))
        return out

    def segment(self, images: Sequence[np.ndarray]) -> list[list[Instance]]:
        from scipy import ndimage

        results = []
        for image in images:
            found = []
            probs = self.probabilities(image)
            stacked = np.stack([probs[c] for c in _VOC_TO_LABEL])
            best = stacked.argmax(axis=0)
            for k, (cls, label) in enumerate(_VOC_TO_LABEL.items()):
                sem = (best == k) & (probs[cls] > 0.5)
                lab, n = ndimage.label(sem, structure=np.ones((3, 3), dtype=bool))
                sizes = np.bincount(lab.ravel(), minlength=n + 1)
                for j, sl in enumerate(ndimage.find_objects(lab), 1):
                    if sl is None or sizes[j] < _MIN_PIXELS_FRACTION * lab.size:
                        continue  # specks of misclassified pixels are not candidates
                    mask = lab == j
                    ys, xs = sl
                    found.append(Instance(
                        label=label, score=float(probs[cls][mask].mean()),
                        box=(float(xs.start), float(ys.start), float(xs.stop), float(ys.stop)),
                        mask=mask))
            results.append(found)
        return results

    def close(self) -> None:
        self._interp = None


@hookimpl
def aist_register_stages(registry) -> None:
    registry.add_segmenter(DeepLabLiteSegmenter)


@hookimpl
def aist_register_weights(weights) -> None:
    from aist_app.common.samples import deeplab_weights
    from aist_app.common.weights import BundledWeights

    weights.add(BundledWeights(
        "deeplab-lite", "DeepLabv3 MobileNet TFLite (Apache-2.0), the deeplab-lite segmenter; "
        "bundled in aist_app/sample_data", deeplab_weights,
        "reinstall AIST (the file ships with it)"))


@hookimpl
def aist_register_checks(checks) -> None:
    checks.require("segment-deeplab", "weights:deeplab-lite")
