"""Deterministic, seeded train/val/test splits by object.

Each object gets a key from a hash of (seed, object id); objects are sorted by key and cut at
the requested fractions. The result depends only on the set of ids and the seed, never on
their order or on which machine rendered them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

DEFAULT_FRACTIONS = {"train": 0.8, "val": 0.1, "test": 0.1}
#: The reference's ShapeNet car split (5247 / 750 / 1500 objects).
REFERENCE_FRACTIONS = {"train": 5247.0, "val": 750.0, "test": 1500.0}
SPLIT_RULES = ("80/10/10", "reference")


def parse_rule(rule: str) -> dict[str, float] | None:
    """``"T/V/S"`` (three non-negative numbers, proportions of the objects: ``80/10/10``, or
    ``32/4/12`` for exactly 32 / 4 / 12 of 48 objects) as fractions; None for
    ``"reference"``; a ValueError naming the rule otherwise."""
    if rule == "reference":
        return None
    parts = rule.split("/")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = []
    if len(parts) != 3 or len(values) != 3 or any(not v >= 0 for v in values) \
            or sum(values) <= 0:
        raise ValueError(f"split rule {rule!r}: use train/val/test proportions such as "
                         "\"80/10/10\" or \"32/4/12\" (non-negative, not all 0), or "
                         "\"reference\"")
    return dict(zip(("train", "val", "test"), values, strict=True))


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


def reference_lists() -> dict[str, str]:
    """Object id -> split of the reference's lists (``data/splits/<synset>_<split>.txt`` of
    DPC, MIT; bundled for cars, the report's class)."""
    from importlib.resources import files

    out: dict[str, str] = {}
    folder = files("aist_app") / "reference_splits"
    for f in folder.iterdir():
        name = f.name
        if name.endswith(".txt") and "_" in name:
            split = name[:-4].split("_", 1)[1]
            out.update({line.strip(): split for line in f.read_text().splitlines()
                        if line.strip()})
    return out


def split_objects(ids: Iterable[str], rule: str = "80/10/10", *, seed: int = 0
                  ) -> dict[str, list[str]]:
    """Splits by ``rule``: train/val/test proportions such as "80/10/10" (seeded,
    :func:`parse_rule`), or "reference": objects in the reference's lists keep their split
    there, the others are cut 5247 : 750 : 1500 (seeded)."""
    fractions = parse_rule(rule)
    if fractions is not None:  # 80/10/10 as it always was cut (the same floats)
        return make_splits(ids, seed=seed,
                           fractions=None if rule == "80/10/10" else fractions)
    listed = reference_lists()
    ids = sorted(set(ids))
    out = make_splits([i for i in ids if i not in listed], seed=seed,
                      fractions=REFERENCE_FRACTIONS)
    for oid in ids:
        if oid in listed:
            out[listed[oid]].append(oid)
    return {k: sorted(v) for k, v in out.items()}
