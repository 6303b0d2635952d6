"""Small float64 linear algebra with the same bits on every processor.

BLAS and LAPACK kernels (OpenBLAS picks one per CPU: Haswell, SkylakeX, Prescott, ...) sum
in different orders and fuse multiply-adds differently, so ``A @ x``, ``np.linalg.norm`` of a
vector, ``svd`` and trimesh's ``apply_transform`` change the last bits of what is written from
one machine to the next. Everything here is elementwise NumPy (one multiply, one add, each
rounded, in a fixed order) or plain Python floats: no BLAS, no LAPACK, no fused operations.
Used for every array a dataset stores (points, cameras, normalizations).
"""

from __future__ import annotations

import math

import numpy as np


def norm3(v) -> float:
    """Length of a 3-vector."""
    x, y, z = (float(c) for c in np.asarray(v, dtype=np.float64).reshape(3))
    return math.sqrt(x * x + y * y + z * z)


def affine(matrix, points) -> np.ndarray:
    """``points @ M[:3, :3].T + M[:3, 3]`` for (N, 3) points and a 4x4 (or 3x4) ``M``."""
    m = np.asarray(matrix, dtype=np.float64)
    p = np.asarray(points, dtype=np.float64)
    out = np.empty((len(p), 3), dtype=np.float64)
    for i in range(3):
        out[:, i] = ((p[:, 0] * m[i, 0] + p[:, 1] * m[i, 1]) + p[:, 2] * m[i, 2]) + m[i, 3]
    return out


def linear(matrix, points) -> np.ndarray:
    """``points @ M.T`` for (N, 3) points and a 3x3 ``M``."""
    m = np.asarray(matrix, dtype=np.float64)
    return affine(np.concatenate([m[:3, :3], np.zeros((3, 1))], axis=1), points)


def matmul(a, b) -> np.ndarray:
    """``a @ b`` of two small 2-D matrices."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape[1] != b.shape[0]:
        raise ValueError(f"cannot multiply {a.shape} by {b.shape}")
    out = np.zeros((a.shape[0], b.shape[1]), dtype=np.float64)
    for i in range(a.shape[0]):
        for j in range(b.shape[1]):
            s = 0.0
            for k in range(a.shape[1]):
                s = s + float(a[i, k]) * float(b[k, j])
            out[i, j] = s
    return out


def _inverse_transpose3(m: np.ndarray) -> np.ndarray:
    c = np.empty((3, 3), dtype=np.float64)
    for i in range(3):
        for j in range(3):
            r = [k for k in range(3) if k != i]
            s = [k for k in range(3) if k != j]
            minor = float(m[r[0], s[0]]) * float(m[r[1], s[1]]) \
                - float(m[r[0], s[1]]) * float(m[r[1], s[0]])
            c[i, j] = minor if (i + j) % 2 == 0 else -minor
    det = float(m[0, 0]) * c[0, 0] + float(m[0, 1]) * c[0, 1] + float(m[0, 2]) * c[0, 2]
    if det == 0.0:
        raise ValueError("singular matrix")
    return c / det


def nearest_rotation(m, iterations: int = 12) -> np.ndarray:
    """The orthonormal polar factor of a nearly orthonormal 3x3 ``m`` (what ``u @ vt`` of its
    SVD gives), by a fixed number of Newton steps ``X <- (X + X^-T) / 2``."""
    x = np.asarray(m, dtype=np.float64)[:3, :3].copy()
    for _ in range(iterations):
        x = (x + _inverse_transpose3(x)) * 0.5
    return x
