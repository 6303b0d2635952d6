"""Deterministic, seeded train/val/test splits by object.

Each object gets a key from a hash of (seed, object id); objects are sorted by key and cut at
the requested fractions. The result depends only on the set of ids and the seed, never on
their order or on which machine rendered them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

DEFAULT_FRACTIONS = {"train": 0.8, "val": 0.1, "test": 0.1}


def _key(seed: int, oid: str) -> bytes:
    return hashlib.sha256(f"{seed}:{oid}".encode()).digest()


def make_splits(
    ids: Iterable[str], *, seed: int = 0, fractions: dict[str, float] | None = None
) -> dict[str, list[str]]:
    """Split object ids into train/val/test (each list sorted by id)."""
    fractions = dict(DEFAULT_FRACTIONS if fractions is None else fractions)
    for name in ("train", "val", "test"):
        fractions.setdefault(name, 0.0)
    if set(fractions) != {"train", "val", "test"} or any(f < 0 for f in fractions.values()):
        raise ValueError(f"fractions must be non-negative train/val/test, got {fractions}")
    total = sum(fractions.values())
    if total <= 0:
        raise ValueError("fractions must not all be zero")
    ordered = sorted(set(ids), key=lambda oid: _key(seed, oid))
    n = len(ordered)
    # Largest-remainder rounding, then make sure every non-empty fraction gets an object when
    # there are enough objects to go round (a 5-object set still gets a test object).
    raw = {k: n * f / total for k, f in fractions.items()}
    counts = {k: int(v) for k, v in raw.items()}
    by_remainder = sorted(raw, key=lambda k: raw[k] - counts[k], reverse=True)
    for k in by_remainder[: n - sum(counts.values())]:
        counts[k] += 1
    wanted = [k for k in ("test", "val", "train") if fractions[k] > 0]
    if n >= len(wanted):
        for k in wanted:
            if counts[k] == 0:
                donor = max(counts, key=counts.get)
                counts[donor] -= 1
                counts[k] += 1
    out, start = {}, 0
    for k in ("train", "val", "test"):
        out[k] = sorted(ordered[start : start + counts[k]])
        start += counts[k]
    return out
