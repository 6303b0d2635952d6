"""A stylizer's trajectory: KID to the target of G, and of averages of G's weights, every N
steps of one training run, on an experiment's data (its source and target renders).

    python scripts/stylizer_curve.py EXP --seed 0 --out curve0       # the cpu preset's
    python scripts/stylizer_curve.py EXP --seed 0 --set residual=true --out curve0r

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
from aist_app.stylize.domain_kid import held_out_images
from aist_app.stylize.metrics import kid, pooled_features

SPLITS = {"val": ("val",), "test": ("test",), "all": ("val", "test")}


def _rgba(root: Path, splits: tuple[str, ...]) -> torch.Tensor:
    ds = Dataset.open(root, check="meta")
    ids = [o for s in splits for o in ds.object_ids(s)]
    return torch.stack([torch.from_numpy(np.array(ds.load_view(o, f))).permute(2, 0, 1)
                        for o in ids for f in ds.view_files(o)])


def _halves(fa: torch.Tensor, fb: torch.Tensor, seeds: int = 3) -> float:
    """The kid stage's figure: the mean over ``seeds`` random halves of both sets."""
    vals = []
    for s in range(seeds):
        rng = np.random.default_rng([s, 17])
        ia = rng.choice(len(fa), max(2, len(fa) // 2), replace=False)
        ib = rng.choice(len(fb), max(2, len(fb) // 2), replace=False)
        vals.append(kid(fa[torch.from_numpy(ia)], fb[torch.from_numpy(ib)]))
    return float(np.mean(vals))


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
    args = ap.parse_args()
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
    sets = {}
    for name, splits in SPLITS.items():
        src = _rgba(syn, splits)
        sets[name] = (src, pooled_features(phi, held_out_images(target, 128, splits)).cpu(),
                      pooled_features(phi, to_input(src, 128)[0]).cpu())

    @torch.no_grad()
    def features(G: torch.nn.Module, rgba: torch.Tensor) -> torch.Tensor:
        """``aist stylize``'s output of these views (alpha kept), as the kid stage sees it."""
        G.eval()
        x, box = to_input(rgba, cfg.size)
        y = torch.cat([G(x[i:i + 32]) for i in range(0, len(x), 32)])
        G.train()
        return pooled_features(phi, to_input(to_rgba(y, box, rgba), 128)[0]).cpu()

    source = {k: kid(v[2], v[1]) for k, v in sets.items()}
    source["allh"] = _halves(sets["all"][2], sets["all"][1])
    print("source", json.dumps({k: round(v, 4) for k, v in source.items()}), flush=True)
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
        row = {"step": trainer.step, "seconds": round(time.perf_counter() - t0)}
        for tag, net in (("G", G), *((f"ema {b}", a) for b, a in averages.items())):
            for name, (src, ft, _) in sets.items():
                f = features(net, src)
                row[f"{tag} {name}"] = round(kid(f, ft), 4)
                if name == "all":
                    row[f"{tag} allh"] = round(_halves(f, ft), 4)
        rows.append(row)
        print(json.dumps(row), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "curve.json").write_text(json.dumps(
        {"source": source, "rows": rows, "seed": args.seed, "threads": torch.get_num_threads(),
         "stylizer": cfg.as_dict()}, indent=1))
    tags = ["G", *(f"ema {b}" for b in args.ema)]
    lines = [f"KID to the target (held-out val+test views, mean of 3 halves), seed {args.seed}"
             f", {torch.get_num_threads()} threads; the source: {source['allh']:.3f}", "",
             "| step | " + " | ".join(tags) + " |", "|---|" + "---|" * len(tags)]
    lines += [f"| {r['step']} | " + " | ".join(f"{r[f'{t} allh']:.3f}" for t in tags) + " |"
              for r in rows]
    (args.out / "curve.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
