"""Quality signals of a stylizer: does it keep masks, and do its outputs look real?"""

from __future__ import annotations

import torch
from torch import Tensor


def hard_alpha(x: Tensor) -> Tensor:
    """Alpha(x) = 1 where any RGB channel is strictly greater than -1 (report §4.1.1)."""
    return (x > -1.0).any(dim=1, keepdim=True).to(x.dtype)


def mask_iou(x: Tensor, y: Tensor) -> float:
    """Mean IoU of Alpha(x) and Alpha(G(x)) over a batch."""
    a, b = hard_alpha(x).bool(), hard_alpha(y).bool()
    inter = (a & b).flatten(1).sum(1).float()
    union = (a | b).flatten(1).sum(1).float().clamp_min(1)
    return float((inter / union).mean())


def pooled_features(phi, x: Tensor, batch: int = 16) -> Tensor:
    with torch.no_grad():
        return torch.cat([phi(x[i:i + batch]).float().mean(dim=(2, 3))
                          for i in range(0, len(x), batch)]).double()


def kid(a: Tensor, b: Tensor) -> float:
    """Kernel Inception Distance (unbiased MMD^2, cubic polynomial kernel) between two sets
    of feature vectors (n, d); 0 when they come from one distribution."""
    d = a.shape[1]

    def k(u: Tensor, v: Tensor) -> Tensor:
        return (u @ v.T / d + 1.0) ** 3

    m, n = len(a), len(b)
    kaa, kbb, kab = k(a, a), k(b, b), k(a, b)
    s_aa = (kaa.sum() - kaa.diagonal().sum()) / (m * (m - 1))
    s_bb = (kbb.sum() - kbb.diagonal().sum()) / (n * (n - 1))
    return float(s_aa + s_bb - 2 * kab.mean())
