"""The history pool of generated images the discriminators see (Shrivastava et al.)."""

from __future__ import annotations

import torch
from torch import Tensor


class HistoryPool:
    """Keeps up to ``size`` past generated images; for each new one returns, with
    probability 1/2 once full, a stored image (which the new one replaces) instead."""

    def __init__(self, size: int, generator: torch.Generator) -> None:
        self.size = size
        self.generator = generator
        self.images: list[Tensor] = []

    def query(self, images: Tensor) -> Tensor:
        if self.size <= 0:
            return images
        out = []
        for img in images.detach():
            img = img.unsqueeze(0)
            if len(self.images) < self.size:
                self.images.append(img.cpu().clone())
                out.append(img)
            elif torch.rand(1, generator=self.generator).item() < 0.5:
                k = int(torch.randint(0, self.size, (1,), generator=self.generator))
                old = self.images[k].to(img.device)
                self.images[k] = img.cpu().clone()
                out.append(old)
            else:
                out.append(img)
        return torch.cat(out, 0)

    def state(self) -> Tensor:
        return torch.cat(self.images, 0) if self.images else torch.empty(0)

    def load(self, state: Tensor) -> None:
        self.images = [t.unsqueeze(0).clone() for t in state] if state.numel() else []
