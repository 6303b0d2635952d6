"""The BLAS-free arithmetic behind every stored array agrees with NumPy's to rounding, and
gives the same bits under another BLAS kernel (a subprocess with OPENBLAS_CORETYPE)."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np

from aist_app.common.exact import affine, matmul, nearest_rotation, norm3


def test_exact_operations_agree_with_numpy():
    rng = np.random.default_rng(0)
    m = rng.normal(size=(4, 4))
    p = rng.normal(size=(50, 3))
    assert np.allclose(affine(m, p), p @ m[:3, :3].T + m[:3, 3], rtol=0, atol=1e-14)
    a, b = rng.normal(size=(4, 3)), rng.normal(size=(3, 5))
    assert np.allclose(matmul(a, b), a @ b, rtol=0, atol=1e-14)
    assert abs(norm3(p[0]) - np.linalg.norm(p[0])) < 1e-15
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    noisy = (q + rng.normal(scale=1e-6, size=(3, 3))).astype(np.float32)
    u, _, vt = np.linalg.svd(noisy.astype(np.float64))
    assert np.allclose(nearest_rotation(noisy), u @ vt, rtol=0, atol=1e-12)


SCRIPT = """
import hashlib, numpy as np
from aist_app.dataset.dpc_import import camera_from_dpc
from aist_app.scene.cameras import orbit_camera
rng = np.random.default_rng(1)
out = []
for k in range(20):
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    e = np.eye(4); e[:3, :3] = q; e[:3, 3] = rng.normal(size=3)
    c = camera_from_dpc(e.astype(np.float32), (64, 64))
    out.append(repr(c.to_json("v")))
    out.append(repr(orbit_camera(rng.uniform(0, 360), rng.uniform(-20, 40)).to_json("v")))
print(hashlib.sha256("".join(out).encode()).hexdigest())
"""


def test_cameras_have_the_same_bits_under_another_blas_kernel():
    digests = set()
    for env in ({}, {"OPENBLAS_CORETYPE": "Prescott"}, {"OPENBLAS_CORETYPE": "Haswell"}):
        p = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                           env={**os.environ, **env}, timeout=120)
        assert p.returncode == 0, p.stderr[-2000:]
        digests.add(p.stdout.strip())
    assert len(digests) == 1
