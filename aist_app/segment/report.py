"""The segmentation run's report: rejection summary and the ratio histograms of the report
(Fig. 3.10 before, Fig. 3.14 after normalization), written beside the dataset."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from aist_app.common.io_utils import atomic_write_bytes, atomic_write_json


def ratio_histogram(synthetic: list[float], real: list[float], title: str) -> bytes:
    """PNG bytes of two normalized histograms of car-to-frame ratios on shared bins."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 4.0), dpi=100)
    ax = fig.add_subplot()
    values = np.concatenate([np.asarray(synthetic, float), np.asarray(real, float)])
    hi = float(np.quantile(values, 0.995)) if len(values) else 1.0
    lo = float(values.min()) if len(values) else 0.0
    pad = 0.05 * max(hi - lo, 1e-3)
    lo, hi = max(0.0, lo - pad), hi + pad
    bins = np.linspace(lo, hi, 40)
    ax.hist(np.clip(synthetic, lo, hi), bins=bins, density=True, alpha=0.55,
            label=f"synthetic ({len(synthetic)} views)", color="tab:blue")
    if len(real):
        ax.hist(np.clip(real, lo, hi), bins=bins, density=True, alpha=0.55,
                label=f"real ({len(real)} segmentations)", color="tab:orange")
    ax.set_xlabel("car-to-frame ratio (object pixels / background pixels)")
    ax.set_ylabel("density")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def write_report(out: Path, summary) -> dict[str, Path]:
    """``report/rejections.json``, ``report/ratio_hist_before.png`` (Fig. 3.10) and
    ``report/ratio_hist_after.png`` (Fig. 3.14)."""
    report = Path(out) / "report"
    paths = {"rejections": report / "rejections.json",
             "hist_before": report / "ratio_hist_before.png",
             "hist_after": report / "ratio_hist_after.png"}
    atomic_write_json(paths["rejections"], {**summary.as_dict(),
                                            "ratio_model": summary.ratio_model.as_dict()})
    syn = summary.ratio_model.ratios
    ks = summary.ks
    atomic_write_bytes(paths["hist_before"], ratio_histogram(
        syn, summary.ratios_before,
        f"before normalization (KS {ks.get('ks_before', float('nan')):.3f})"))
    atomic_write_bytes(paths["hist_after"], ratio_histogram(
        syn, summary.ratios_after,
        f"after normalization (KS {ks.get('ks_after', float('nan')):.3f})"))
    return paths
