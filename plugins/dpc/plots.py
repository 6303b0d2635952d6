"""Learning curves of a pose-model run: losses, and pose metrics on validation objects against
the chance baselines the evaluator computes on the same views."""

from __future__ import annotations

import io


def learning_curves(history: list[dict], title: str = "") -> bytes:
    """Three panels: training and validation projection loss; validation acc@30 (after the
    reference's alignment, and under the best single rotation: the footing of the constant
    baseline) with the random-rotation and best-constant-rotation baselines; validation
    median error, likewise."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    train = [h for h in history if h.get("kind") == "train"]
    val = [h for h in history if h.get("kind") == "val"]
    pose = [h for h in history if h.get("kind") == "val_pose"]
    fig = Figure(figsize=(13, 3.8), dpi=90)
    ax = fig.add_subplot(1, 3, 1)
    if train:
        ax.plot([h["step"] for h in train], [h["projection"] for h in train], lw=1,
                label="train projection")
    if val:
        ax.plot([h["step"] for h in val], [h["val_projection"] for h in val], "o-", lw=1,
                label="val projection")
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_title("loss")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    for i, (key, base, label) in enumerate((("val_acc30", "acc30", "acc@30° (val)"),
                                            ("val_median_err_deg", "median_err",
                                             "median error ° (val)"))):
        ax = fig.add_subplot(1, 3, i + 2)
        if pose:
            steps = [h["step"] for h in pose]
            ax.plot(steps, [h[key] for h in pose], "o-", lw=1.5,
                    label="model (reference alignment)")
            best = f"val_{base}_best_align"
            if all(best in h for h in pose):
                ax.plot(steps, [h[best] for h in pose], "s-", lw=1, ms=3,
                        label="model (best single rotation)")
            ax.plot(steps, [h[f"val_{base}_constant"] for h in pose], "--", lw=1,
                    label="best constant rotation")
            ax.plot(steps, [h[f"val_{base}_random"] for h in pose], ":", lw=1,
                    label="random rotation")
        ax.set_xlabel("step")
        ax.set_title(label)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
