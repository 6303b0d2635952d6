"""Stylize a dataset with a trained generator G: RGB from G, everything else unchanged.

The output is a ``stylized`` dataset: each view's alpha channel is the input's, exactly;
``cameras.json`` and ``points.npz`` are copied byte for byte; provenance names the
checkpoint. Any view size works (letterboxed to the model's size and cropped back).
"""

from __future__ import annotations

import time
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path

import torch

from aist_app.api.progress import ItemProgress
from aist_app.common.devices import amp_dtype, autocast, memory_format, resolve_device
from aist_app.common.outputs import OutputRecord, check_apart, folder_identity, run_folder_of
from aist_app.dataset import Dataset
from aist_app.dataset.contract import dataset_identity
from aist_app.dataset.writer import DatasetWriter
from aist_app.stylize.data import to_input, to_rgba
from aist_plugins.cyclegan import checkpoint as ckpt_io
from aist_plugins.cyclegan.config import StylizerConfig
from aist_plugins.cyclegan.models import build_generator


@dataclass
class StylizeSummary:
    out: Path
    written: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    views: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return {"written": len(self.written), "skipped": len(self.skipped),
                "views": self.views, "seconds": round(self.seconds, 3)}


class Stylizer:
    """A trained G, ready to stylize batches of RGBA views."""

    def __init__(self, run_or_checkpoint: str | Path, *, device: str = "auto",
                 amp: bool | None = None, channels_last: bool | None = None) -> None:
        """``amp`` None: half precision on a GPU, fp32 on the CPU."""
        ck = ckpt_io.load(run_or_checkpoint)
        self.path = ck["path"]
        self.config = StylizerConfig.from_dict(ck["config"])
        self.step = int(ck.get("step", 0))
        self.device = torch.device(resolve_device(device))
        G = build_generator(self.config)
        name = "G_ema" if self.config.ema else "G"  # the average of G, when the run kept one
        if name not in ck["models"]:
            raise ckpt_io.CheckpointError(f"{self.path}: no {name} weights in this checkpoint "
                                          f"(its config has ema = {self.config.ema})")
        ckpt_io.load_module(G, ck["models"][name], name, self.path)
        self.memory_format = memory_format(self.device, channels_last)
        self.G = G.eval().to(self.device, memory_format=self.memory_format)
        self.dtype = amp_dtype(self.device, self.device.type != "cpu" if amp is None else amp)

    @torch.inference_mode()
    def __call__(self, rgba: torch.Tensor) -> torch.Tensor:
        """(N, 4, H, W) uint8 -> (N, 4, H, W) uint8 stylized, alpha unchanged."""
        x, box = to_input(rgba, self.config.size)
        x = x.to(self.device).contiguous(memory_format=self.memory_format)
        with autocast(self.device, self.dtype):
            y = self.G(x)
        return to_rgba(y.float().cpu(), box, rgba)


def stylize_dataset(run_or_checkpoint: str | Path, dataset: str | Path, out: str | Path, *,
                    batch: int = 32, device: str = "auto", overwrite: bool = False
                    ) -> Generator[ItemProgress, None, StylizeSummary]:
    """Stylize every view of ``dataset`` into a stylized dataset at ``out`` (resumes a folder
    made from the same checkpoint and input; refuses any other unless ``overwrite``)."""
    start = time.perf_counter()
    src = Dataset.open(dataset, check="meta")
    if src.kind == "real":
        raise ValueError(f"{src.root}: stylize a synthetic dataset, not a real one")
    model = Stylizer(run_or_checkpoint, device=device)
    out = Path(out)
    # The run's whole folder is an input (its samples/ too), not only the checkpoint file.
    check_apart(out, {"run": str(run_folder_of(model.path))})
    record = OutputRecord("stylize", "aist-cyclegan", {},
                          {"checkpoint": folder_identity(model.path), "step": model.step,
                           "input": dataset_identity(src.root)})
    writer = DatasetWriter(out, kind="stylized", record=record, overwrite=overwrite,
                           image_size=src.image_size,
                           up_axis=src.meta.get("up_axis", "y"), source={
                               "stage": "stylize", "plugin": "aist-cyclegan",
                               "checkpoint": model.path, "checkpoint_step": model.step,
                               "stylizer_config": model.config.as_dict(),
                               "input": str(src.root), "input_source": src.source,
                               "device": str(model.device), "batch": batch})
    summary = StylizeSummary(out=out)
    ids = src.object_ids()
    try:
        for n, oid in enumerate(ids, 1):
            if writer.is_complete(oid):
                summary.skipped.append(oid)
                yield ItemProgress(n, len(ids), oid, "skipped", "already complete")
                continue
            files = src.view_files(oid)
            with writer.object(oid) as obj:
                for i in range(0, len(files), batch):
                    chunk = files[i:i + batch]
                    rgba = torch.stack([torch.from_numpy(src.load_view(oid, f).copy())
                                        .permute(2, 0, 1) for f in chunk])
                    styled = model(rgba)
                    for f, img in zip(chunk, styled, strict=True):
                        obj.add_view(img.permute(1, 2, 0).numpy(), name=f)
                        summary.views += 1
                # Annotations: byte-identical copies of the input's.
                d = src.object_dir(oid)
                for p in [d / "cameras.json", d / "points.npz", d / "provenance.json",
                          *sorted(d.glob("depth_*.png"))]:
                    if p.exists() or p.is_symlink():  # a link leaving the set: refused
                        obj.copy_file(src.file(oid, p.name))
            summary.written.append(oid)
            yield ItemProgress(n, len(ids), oid, "rendered")
        summary.seconds = time.perf_counter() - start
        writer.finalize(splits={k: src.object_ids(k) for k in ("train", "val", "test")},
                        source={"summary": summary.as_dict()})
    except BaseException:
        writer.close()
        writer.discard_if_unused()  # a refusal leaves nothing behind
        raise
    finally:
        writer.close()
    return summary
