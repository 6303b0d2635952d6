"""Device choice and mixed precision in one place, for every torch stage and front end.

``--device auto|cpu|cuda[:N]|mps``: ``auto`` takes the user's GPU when torch sees one; an
explicit device that is not there is an error before any work (never a silent CPU fall back).
Mixed precision (``--amp``) is bfloat16 autocast wherever the device supports it, so the same
code path runs in CI on the CPU; float16 (with a gradient scaler) only on a CUDA card without
bfloat16.
"""

from __future__ import annotations

import re
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

#: The device every torch stage uses when none is named (the CLI's and the app's).
DEFAULT_DEVICE = "auto"

DEVICE_FORMS = "auto, cpu, cuda, cuda:N or mps"
_CUDA = re.compile(r"cuda(?::(\d+))?")


class DeviceError(ValueError):
    """The asked device is malformed or not present on this machine."""


RENDER_DEVICE_FORMS = "auto, cpu, cuda or cuda:N"


def parse_device(device: str, *, option: str = "--device", renderer: bool = False) -> str:
    """The one rule of every stage (torch stages and renderers alike) for the form of a
    device, checked without importing torch: ``auto``, ``cpu``, ``cuda``, ``cuda:N`` or (not
    for renderers) ``mps``; anything else is a :class:`DeviceError` naming the option."""
    device = (device or "auto").strip() if isinstance(device, str) else device
    if not isinstance(device, str):
        raise DeviceError(f"{option} {device!r}: use {DEVICE_FORMS}")
    forms = RENDER_DEVICE_FORMS if renderer else DEVICE_FORMS
    if device in ("auto", "cpu") or _CUDA.fullmatch(device) or (device == "mps"
                                                               and not renderer):
        return device
    if device == "mps":
        raise DeviceError(f"{option} mps: renderers draw with OpenGL (EGL) or Cycles, not "
                          f"MPS; use {forms}")
    raise DeviceError(f"{option} {device!r}: use {forms}")


def resolve_device(device: str, *, option: str = "--device") -> str:
    """``auto`` -> ``cuda`` / ``mps`` / ``cpu`` (what is present); an explicit device is
    checked and returned unchanged, or :class:`DeviceError` names the option and the forms."""
    import torch

    device = parse_device(device, option=option)
    if device == "auto":
        if torch.cuda.is_available():
            return "cuda"
        if _mps_available():
            return "mps"
        return "cpu"
    if device == "cpu":
        return device
    if device == "mps":
        if not _mps_available():
            raise DeviceError(f"{option} mps: torch sees no Apple GPU (MPS) on this machine; "
                              "use --device cpu or auto")
        return device
    m = _CUDA.fullmatch(device)
    if m is None:
        raise DeviceError(f"{option} {device!r}: use {DEVICE_FORMS}")
    if not torch.cuda.is_available():
        raise DeviceError(f"{option} {device}: torch sees no CUDA GPU on this machine "
                          f"(torch {torch.__version__}, built for CUDA "
                          f"{torch.version.cuda or 'none'}); use --device cpu or auto")
    if m.group(1) is not None and int(m.group(1)) >= torch.cuda.device_count():
        raise DeviceError(f"{option} {device}: this machine has "
                          f"{torch.cuda.device_count()} CUDA device(s), numbered from 0")
    return device


def _mps_available() -> bool:
    import torch

    backend = getattr(torch.backends, "mps", None)
    return bool(backend and backend.is_available())


def amp_dtype(device: torch.device | str, amp: bool) -> torch.dtype | None:
    """The autocast dtype for ``--amp`` on ``device``, or ``None`` for fp32.

    bfloat16 on the CPU, MPS and CUDA cards that support it (no gradient scaling needed);
    float16 on older CUDA cards (paired with :func:`grad_scaler`)."""
    import torch

    if not amp:
        return None
    kind = torch.device(device).type
    if kind == "cuda":  # GPU only: which dtype the card supports
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16


def autocast(device: torch.device | str, dtype: torch.dtype | None) -> AbstractContextManager:
    """``torch.autocast`` on ``device`` with ``dtype``; a no-op context when ``dtype`` is None."""
    import torch

    kind = torch.device(device).type
    return torch.autocast(kind, dtype=dtype or torch.float32, enabled=dtype is not None)


def grad_scaler(device: torch.device | str, dtype: torch.dtype | None, *,
                force: bool = False) -> torch.amp.GradScaler:
    """A gradient scaler, enabled for float16 autocast (or with ``force``, which tests use to
    run the scaling logic on the CPU)."""
    import torch

    kind = torch.device(device).type
    return torch.amp.GradScaler(kind, enabled=force or dtype == torch.float16)


def memory_format(device: torch.device | str, channels_last: bool | None = None):
    """channels-last on CUDA (tensor cores) unless told otherwise; contiguous elsewhere."""
    import torch

    if channels_last is None:
        channels_last = torch.device(device).type == "cuda"
    return torch.channels_last if channels_last else torch.contiguous_format


def to_device(x: torch.Tensor, device: torch.device | str, *, memory_format=None
              ) -> torch.Tensor:
    """A host batch onto ``device``. On CUDA the copy goes through pinned memory with
    ``non_blocking`` (overlapping the next batch's loading); that path needs a CUDA device and
    is the only line here that cannot run on the CPU, where this is a plain ``.to``."""
    import torch

    device = torch.device(device)
    kw = {} if memory_format is None else {"memory_format": memory_format}
    if device.type == "cuda":  # GPU only: pinned host memory needs the CUDA runtime
        return x.pin_memory().to(device, non_blocking=True, **kw)
    return x.to(device, **kw)


#: The variables that pick a CPU run's kernels (torch's vectorized ATen code, MKL, oneDNN,
#: numpy's OpenBLAS): a second CPU emulated on one machine sets them (scripts/seeds.py).
KERNEL_VARIABLES = ("ATEN_CPU_CAPABILITY", "MKL_ENABLE_INSTRUCTIONS", "ONEDNN_MAX_CPU_ISA",
                    "OPENBLAS_CORETYPE")


def cpu_kernels() -> dict[str, object]:
    """What a CPU run computed with, recorded with every training run: torch's threads, the
    instruction set its ATen kernels dispatch to (what ``ATEN_CPU_CAPABILITY`` changes),
    and the kernel variables that were set."""
    import os

    import torch

    return {"cpu_threads": torch.get_num_threads(),
            "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            **{k.lower(): os.environ[k] for k in KERNEL_VARIABLES if k in os.environ}}
