"""Paths of the sample data bundled with AIST (see ``sample_data/NOTICE.md``)."""

from __future__ import annotations

from pathlib import Path

SAMPLE_DATA = Path(__file__).resolve().parents[1] / "sample_data"


def sample_meshes() -> Path:
    return SAMPLE_DATA / "meshes"


def sample_photos() -> Path:
    return SAMPLE_DATA / "photos"


def deeplab_weights() -> Path:
    return SAMPLE_DATA / "weights" / "deeplabv3_257_mv_gpu.tflite"
