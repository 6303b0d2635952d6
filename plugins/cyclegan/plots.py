"""Plots of a stylizer run."""

from __future__ import annotations

import io


def loss_curves(history: list[dict]) -> bytes:
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 4.5), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    steps = [h["step"] for h in history]
    keys = [k for k in history[-1] if k not in ("kind", "step", "seconds")]
    for k in keys:
        ax.plot(steps, [h.get(k, float("nan")) for h in history], label=k, linewidth=1)
    ax.set_xlabel("step")
    ax.set_ylabel("loss (weighted)")
    ax.set_yscale("log")
    # Every loss named: the legend beside the axes, never over the curves or cut.
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=9, frameon=False)
    ax.grid(alpha=0.3)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    return buf.getvalue()
