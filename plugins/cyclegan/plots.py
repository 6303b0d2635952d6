"""Plots of a stylizer run."""

from __future__ import annotations

import io


def loss_curves(history: list[dict]) -> bytes:
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 4.5), dpi=100)
    ax = fig.add_subplot()
    steps = [h["step"] for h in history]
    keys = [k for k in history[-1] if k not in ("kind", "step", "seconds")]
    for k in keys:
        ax.plot(steps, [h.get(k, float("nan")) for h in history], label=k, linewidth=1)
    ax.set_xlabel("step")
    ax.set_ylabel("loss (weighted)")
    ax.set_yscale("log")
    ax.legend(ncol=3, fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
