"""``aist doctor``: what this machine has for each stage, each as ok / warn / missing with how
to fix it. Checks that open a GL context, Blender or Qt run in a subprocess (so a crash or a
hang there cannot take the doctor down, and this process stays free of GL state)."""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

from aist_app.api.checks import Check, CheckFn, CheckRegistry, DoctorOptions, run_python
from aist_app.common.weights import WeightsRegistry

#: What each of the core's stages needs (names of checks); plugins add theirs
#: (``aist_register_checks``: render-pyrender, render-blender, segment-*, farm, ...).
CORE_STAGES: dict[str, tuple[str, ...]] = {
    "core": (),
    # train-stylizer's default --feature-net is resnet18; efficientnet-lite0 works offline
    "stylize": ("weights:resnet18",),
    "stylize-efficientnet": ("weights:efficientnet-lite0",),
    "pose": ("torch",),
    "gui": ("qt",),
    "disk": ("disk",),
}


def check_python(options: DoctorOptions) -> Check:
    v = sys.version_info
    ok = (v.major, v.minor) == (3, 11)
    return Check("python", "ok" if ok else "missing", f"Python {sys.version.split()[0]}",
                 "" if ok else "bpy 5.0.1 needs exactly Python 3.11: bash scripts/bootstrap.sh")


def constraints_file() -> Path | None:
    p = Path(__file__).resolve().parents[2] / "constraints.txt"
    return p if p.is_file() else None


def check_packages(options: DoctorOptions) -> Check:
    from packaging.requirements import Requirement

    path = constraints_file()
    if path is None:
        return Check("packages", "warn", "constraints.txt not found (an installed copy)")
    bad, found = [], {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        req = Requirement(line)
        try:
            version = importlib.metadata.version(req.name)
        except importlib.metadata.PackageNotFoundError:
            bad.append(f"{req.name} not installed (wants {req.specifier})")
            continue
        found[req.name] = version
        if req.specifier and not req.specifier.contains(version, prereleases=True):
            bad.append(f"{req.name} {version} (wants {req.specifier})")
    if bad:
        return Check("packages", "missing", "; ".join(bad),
                     f"pip install -c {path} -e . (or bash scripts/bootstrap.sh)", found)
    return Check("packages", "ok", ", ".join(f"{k} {v}" for k, v in found.items()), info=found)


def check_torch(options: DoctorOptions) -> Check:
    import torch

    info: dict = {"torch": torch.__version__, "cuda_build": torch.version.cuda,
                  "threads": torch.get_num_threads(), "devices": []}
    for i in range(torch.cuda.device_count() if torch.cuda.is_available() else 0):
        free, total = torch.cuda.mem_get_info(i)
        info["devices"].append({"device": f"cuda:{i}", "name": torch.cuda.get_device_name(i),
                                "memory_gb": round(total / 2**30, 1),
                                "free_gb": round(free / 2**30, 1),
                                "bf16": torch.cuda.is_bf16_supported()})
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        info["devices"].append({"device": "mps"})
    gpus = ", ".join(f"{d['device']} {d.get('name', '')} {d.get('memory_gb', '')} GB".strip()
                     for d in info["devices"])
    detail = (f"torch {torch.__version__} (CUDA build {torch.version.cuda or 'none'}); "
              + (f"GPUs: {gpus}" if gpus else f"no GPU: the CPU, {info['threads']} threads"))
    return Check("torch", "ok", detail, "" if gpus else
                 "for a GPU: an NVIDIA driver matching this torch build (nvidia-smi)", info)


def weights_check(weights: WeightsRegistry, name: str) -> CheckFn:
    """The ``weights:NAME`` check: present, and its hash matches its name."""
    return lambda options: check_weights(weights, name)


def check_weights(weights: WeightsRegistry, name: str) -> Check:
    st = weights.status(name)
    label = f"weights:{name}"
    if name in weights.bundled:
        if not st["present"]:
            return Check(label, "missing", f"not found ({st['what']})", st["fix"], st)
        if st["hash_ok"] is False:
            return Check(label, "missing", f"{st['path']}: sha256 does not match its name "
                         "(corrupt)", "reinstall the package that ships it", st)
        return Check(label, "ok", f"{st['path']} (bundled)", info=st)
    w = weights.known[name]
    if not st["present"]:
        return Check(label, "missing", f"{w.filename} not found ({w.what})",
                     f"aist weights fetch {name} (internet), or copy {w.filename} into "
                     "$AIST_WEIGHTS_DIR or the torch cache", st)
    if st["hash_ok"] is False:
        return Check(label, "missing", f"{st['path']}: sha256 does not match its name "
                     "(corrupt or truncated)", f"delete it and aist weights fetch {name}", st)
    return Check(label, "ok", f"{st['path']} ({st['size_mb']} MB, hash ok)", info=st)


_QT = """
from PySide6.QtWidgets import QApplication
app = QApplication([])
print(app.platformName())
"""


def check_qt(options: DoctorOptions) -> Check:
    env = {} if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") else {
        "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", "offscreen")}
    code, out = run_python(_QT, env=env)
    if code != 0:
        return Check("qt", "missing", f"Qt cannot start: {out}",
                     "apt-get install libegl1 libxkbcommon0 libfontconfig1 libdbus-1-3; "
                     "headless: QT_QPA_PLATFORM=offscreen")
    note = "" if out not in ("offscreen", "minimal") else \
        "no display: the app runs offscreen only (screenshots); Xvfb or a desktop to use it"
    return Check("qt", "ok" if not note else "warn", f"Qt platform plugin: {out}", note)


def check_disk(options: DoctorOptions) -> Check:
    folder = Path(options.out)
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    free = shutil.disk_usage(probe).free / 2**30
    status = "ok" if free >= 5 else "warn" if free >= 1 else "missing"
    return Check("disk", status, f"{free:.1f} GB free at {probe}",
                 "" if status == "ok" else "the full experiment writes tens of GB: free space "
                 "or choose another --out")


def core_checks(registry: CheckRegistry) -> None:
    """The core's checks and stages."""
    for name, fn in (("python", check_python), ("packages", check_packages),
                     ("torch", check_torch), ("qt", check_qt), ("disk", check_disk)):
        registry.add(name, fn)
    for stage, names in CORE_STAGES.items():
        registry.require(stage, *names)


def checks_of(pm) -> CheckRegistry:
    """Every check and stage of the plugin manager ``pm``: the core's, a ``weights:NAME``
    check for each weights name, then the plugins'."""
    registry = CheckRegistry()
    core_checks(registry)
    weights = pm.weights()
    for name in weights.names():
        registry.add(f"weights:{name}", weights_check(weights, name))
    return pm.add_checks(registry)


def run_checks(registry: CheckRegistry, options: DoctorOptions,
               only: set[str] | None = None) -> list[Check]:
    results = []
    for name, fn in registry.checks.items():
        if only is not None and name not in only:
            continue
        try:
            results.append(fn(options))
        except subprocess.TimeoutExpired:
            results.append(Check(name, "missing", "timed out", "run it alone to see why"))
        except Exception as e:  # a check must not crash the doctor
            results.append(Check(name, "missing", f"{type(e).__name__}: {e}"))
    return results


def needed(registry: CheckRegistry, stage: str | None) -> set[str]:
    """The checks stage ``stage`` needs (``all``: every stage's; None: the core's)."""
    if stage == "all":
        return set().union(*registry.stages.values())
    if (stage or "core") not in registry.stages:
        raise LookupError(f"unknown doctor stage {stage!r}: use all or one of "
                          f"{sorted(registry.stages)}")
    return set(registry.stages[stage or "core"])


def failing(registry: CheckRegistry, results: list[Check], stage: str | None) -> list[Check]:
    """The checks the asked stage needs that are missing."""
    need = needed(registry, stage)
    return [c for c in results if c.name in need and c.status == "missing"]


def to_json(registry: CheckRegistry, results: list[Check], stage: str | None) -> str:
    return json.dumps({"stage": stage or "core", "checks": [asdict(c) for c in results],
                       "failing": [c.name for c in failing(registry, results, stage)]},
                      indent=2)
