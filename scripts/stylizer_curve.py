"""A stylizer's trajectory: KID to the target of G, and of averages of G's weights, every N
steps of one training run, on an experiment's data (its source and target renders).

    python scripts/stylizer_curve.py EXP --seed 0 --out curve0       # the cpu preset's
    python scripts/stylizer_curve.py EXP --seed 0 --set residual=true --out curve0r
    python scripts/stylizer_curve.py EXP --from-run EXP/stylizer-constrained --out last

``--from-run RUN`` trains nothing: it measures a finished run's last G and, when the run kept
one (``ema``), its average, the same way (one row).

EXP is a finished (or data-complete) ``aist experiment`` folder with a target domain
(``--preset cpu``). The stylizer is the preset's ``[stylizer]`` with ``--set`` applied; it
trains in ``OUT/run``, and every ``--every`` steps G and each weight average (``--ema``
decays, kept beside the run, not changing it) stylize the held-out source views as
``aist stylize`` does. Their KID to the target's held-out views is printed for the val
objects, the test objects and both (``all``; ``allh``: the mean over the 3 random halves that
the experiment's kid stage reports). ``OUT/curve.json`` and ``OUT/curve.md`` keep them.
The thread count changes a CPU run's trajectory: ``--threads`` (default: the preset's).
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from aist_app.dataset import Dataset
from aist_app.experiments.presets import PRESETS
from aist_app.stylize.data import to_input, to_rgba
from aist_app.stylize.domain_kid import held_out_images, kid_over_halves
from aist_app.stylize.metrics import kid, pooled_features

SPLITS = {"val": ("val",), "test": ("test",), "all": ("val", "test")}


def _rgba(root: Path, splits: tuple[str, ...]) -> torch.Tensor:
    ds = Dataset.open(root, check="meta")
    ids = [o for s in splits for o in ds.object_ids(s)]
    return torch.stack([torch.from_numpy(np.array(ds.load_view(o, f))).permute(2, 0, 1)
                        for o in ids for f in ds.view_files(o)])


def _halves(fa: torch.Tensor, fb: torch.Tensor) -> tuple[float, float]:
    """The kid stage's figures: the mean and the spread (max - min) over its 3 halves."""
    vals = kid_over_halves(fa, fb, 3)
    return float(np.mean(vals)), float(np.max(vals) - np.min(vals))


def _value(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("exp", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--preset", default="cpu")
    ap.add_argument("--threads", type=int)
    ap.add_argument("--every", type=int, default=50)
    ap.add_argument("--ema", type=float, nargs="*", default=[0.99, 0.995])
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="A [stylizer] setting (JSON value), e.g. residual=true.")
    ap.add_argument("--from-run", type=Path, metavar="RUN",
                    help="Measure this finished stylizer run's G (and average) only.")
    args = ap.parse_args()
    if args.from_run:
        finished(args)
        return
    from aist_plugins.cyclegan.config import StylizerConfig
    from aist_plugins.cyclegan.train import Trainer

    preset = PRESETS[args.preset]
    torch.set_num_threads(args.threads or preset.get("threads") or torch.get_num_threads())
    section = {k: v for k, v in preset["stylizer"].items() if k != "variants"}
    section.update({k: _value(v) for k, v in (s.split("=", 1) for s in args.set)})
    big = 10 ** 9  # the run's own checkpoints, samples and evaluations: none
    cfg = StylizerConfig.from_preset("constrained", **section, seed=args.seed, device="cpu",
                                     checkpoint_every=big, sample_every=big, eval_every=big)
    syn, target = args.exp / "synthetic", args.exp / "target"
    trainer = Trainer(cfg, syn, target, args.out / "run", overwrite=True)
    phi = trainer.phi
    if phi is None:
        sys.exit(f"no feature network for KID: {trainer.phi_error}")
    sets, source = _sets(phi, syn, target)
    G = trainer.nets["G"]
    averages = {b: copy.deepcopy(G).requires_grad_(False) for b in args.ema}
    rows, t0 = [], time.perf_counter()
    while trainer.step < trainer.total:
        trainer.train_step()
        with torch.no_grad():
            for b, avg in averages.items():
                for pa, pg in zip(avg.parameters(), G.parameters(), strict=True):
                    pa.lerp_(pg, 1 - b)
        if trainer.step % args.every and trainer.step != trainer.total:
            continue
        row = {"step": trainer.step, "seconds": round(time.perf_counter() - t0),
               **_measure(phi, sets, cfg.size, {"G": G, **{f"ema {b}": a
                                                           for b, a in averages.items()}})}
        rows.append(row)
        print(json.dumps(row), flush=True)
    _write(args.out, source, rows, ["G", *(f"ema {b}" for b in args.ema)],
           {"seed": args.seed, "stylizer": cfg.as_dict()})


def _sets(phi, syn: Path, target: Path) -> tuple[dict, dict]:
    """Per split: the source views (RGBA), the target's and the source's features; and the
    source's KID to the target."""
    sets = {}
    for name, splits in SPLITS.items():
        src = _rgba(syn, splits)
        sets[name] = (src, pooled_features(phi, held_out_images(target, 128, splits)).cpu(),
                      pooled_features(phi, to_input(src, 128)[0]).cpu())
    source = {k: kid(v[2], v[1]) for k, v in sets.items()}
    source["allh"], source["allh spread"] = _halves(sets["all"][2], sets["all"][1])
    print("source", json.dumps({k: round(v, 4) for k, v in source.items()}), flush=True)
    return sets, source


@torch.no_grad()
def _measure(phi, sets: dict, size: int, nets: dict[str, torch.nn.Module]) -> dict:
    """Each generator's KID to the target on each split, its output being ``aist
    stylize``'s (alpha kept), as the kid stage sees it."""
    row = {}
    for tag, G in nets.items():
        G.eval()
        for name, (src, ft, _) in sets.items():
            x, box = to_input(src, size)
            y = torch.cat([G(x[i:i + 32]) for i in range(0, len(x), 32)])
            f = pooled_features(phi, to_input(to_rgba(y, box, src), 128)[0]).cpu()
            row[f"{tag} {name}"] = round(kid(f, ft), 4)
            if name == "all":
                mean, spread = _halves(f, ft)
                row[f"{tag} allh"], row[f"{tag} allh spread"] = round(mean, 4), round(spread, 4)
        G.train()
    return row


def _write(out: Path, source: dict, rows: list[dict], tags: list[str], extra: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    threads = torch.get_num_threads()
    (out / "curve.json").write_text(json.dumps(
        {"source": source, "rows": rows, "threads": threads, **extra}, indent=1))
    lines = [f"KID to the target (held-out val+test views, mean of 3 halves (their spread; "
             f"the margin to the source's and the verdict against the larger spread)), "
             f"{threads} threads; the source: {source['allh']:.3f} "
             f"({source['allh spread']:.3f})", "",
             "| step | " + " | ".join(tags) + " |", "|---|" + "---|" * len(tags)]
    def cell(r: dict, t: str) -> str:
        """Mean (spread; margin to the source, the kid stage's verdict)."""
        margin = source["allh"] - r[f"{t} allh"]
        spread = max(source["allh spread"], r[f"{t} allh spread"])
        verdict = "toward" if margin > spread else "away" if -margin > spread else "neither"
        return f"{r[f'{t} allh']:.3f} ({r[f'{t} allh spread']:.3f}; {margin:+.3f} {verdict})"

    lines += [f"| {r['step']} | " + " | ".join(cell(r, t) for t in tags) + " |" for r in rows]
    (out / "curve.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def finished(args) -> None:
    """A finished run's last G and its average (when kept), on its own data."""
    from aist_app.stylize.features import feature_net
    from aist_plugins.cyclegan import checkpoint as ckpt_io
    from aist_plugins.cyclegan.config import StylizerConfig
    from aist_plugins.cyclegan.models import build_generator

    ck = ckpt_io.load(args.from_run)
    cfg = StylizerConfig.from_dict(ck["config"])
    nets = {}
    for name in ("G", "G_ema"):
        if name in ck["models"]:
            nets[name] = build_generator(cfg)
            ckpt_io.load_module(nets[name], ck["models"][name], name, ck["path"])
    phi = feature_net(cfg.feature_net, cfg.feature_weights)
    sets, source = _sets(phi, Path(ck["data"]["synthetic"]), Path(ck["data"]["real"]))
    row = {"step": int(ck["step"]), **_measure(phi, sets, cfg.size, nets)}
    print(json.dumps(row), flush=True)
    _write(args.out, source, [row], list(nets), {"run": str(args.from_run),
                                                 "stylizer": cfg.as_dict()})


if __name__ == "__main__":
    main()
