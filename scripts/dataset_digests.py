"""Digests of the datasets every dataset-writing command makes from the shared meshes and
the bundled photos with fixed seeds: the reference that keeps refactors byte-identical.

    python scripts/dataset_digests.py OUT [--meshes SHARED/meshes] > digests.json

Runs the installed ``aist`` (whatever ``aist_app`` is importable: run it with
``PYTHONPATH`` at an older checkout to record that checkout's outputs). Every file under a
dataset's ``objects/`` is hashed; ``dataset.json`` is hashed without what differs between
runs by design (durations, absolute paths, the machine's device name).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

AIST = str(Path(sys.executable).with_name("aist"))
RENDER = ["--views", "3", "--size", "48", "--points", "2000", "--seed", "5", "--device", "cpu",
          "--elevation", "0:40"]


def commands(out: Path, meshes: Path, photos: Path) -> dict[str, list[str]]:
    """The commands, in order (later ones read earlier outputs)."""
    return {
        "render": ["render", str(meshes), str(out / "render"), *RENDER],
        "render-workers": ["render", str(meshes), str(out / "render-workers"), *RENDER,
                           "--workers", "2"],
        "render-blender": ["render", str(meshes / "03001627"), str(out / "render-blender"),
                           "--renderer", "blender", "--samples", "2", "--views", "2",
                           "--size", "32", "--points", "1000", "--device", "cpu"],
        "segment": ["segment", str(photos), str(out / "segment"), "--synthetic",
                    str(out / "render"), "--segmenter", "deeplab-lite", "--min-side", "96",
                    "--device", "cpu"],
        "train-stylizer": ["train-stylizer", "--synthetic", str(out / "render"), "--real",
                           str(out / "segment"), "--out", str(out / "sty"), "--steps", "2",
                           "--size", "32", "--batch", "2", "--feature-net",
                           "efficientnet-lite0", "--device", "cpu"],
        "stylize": ["stylize", str(out / "sty"), str(out / "render"), str(out / "stylize"),
                    "--device", "cpu"],
        "make-cars": ["make-cars", str(out / "make-cars"), "--count", "3", "--seed", "2"],
        # The Blender add-on's render operator on the chair, run in this process's bpy
        # (the add-on runs `aist render` itself): see addon_render below.
        "addon-render": ["(bpy.ops.aist.render_views)", str(meshes / "03001627"),
                         str(out / "addon-render")],
        # Its input: the render above written in DPC's layout (tests/helpers/dpc_layout.py).
        "import-dpc": ["import-dpc", str(out / "dpc" / "renders"), str(out / "import-dpc"),
                       "--gt", str(out / "dpc" / "gt" / "downsampled"), "--views", "3"],
    }


#: Keys whose values differ between identical runs by design.
VOLATILE = {"seconds", "job_id", "device_used", "timings"}


def _normalized(value, out: Path):
    """A JSON value without what differs between identical runs: durations, the farm's job
    id, the machine's device name, and the absolute paths of the output folder, the meshes
    and the installed package (``.../aist_app/sample_data``)."""
    if isinstance(value, dict):
        return {k: _normalized(v, out) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [_normalized(v, out) for v in value]
    if isinstance(value, str):
        value = value.replace(str(out), "OUT")
        value = re.sub(r"aist-meshes-[0-9a-f]+", "aist-meshes-X", value)  # add-on's export
        marker = "/aist_app/sample_data/"
        if marker in value:
            value = "SAMPLE_DATA/" + value.split(marker, 1)[1]
        for mark in MESHES_MARKS:
            if value == mark[:-1]:
                value = "MESHES"
            elif mark in value:
                value = "MESHES/" + value.split(mark, 1)[1]
                break
    return value


#: The meshes' folder as given and resolved (a symlinked checkout records the former).
MESHES_MARKS: list[str] = []


def set_meshes(meshes: Path) -> None:
    MESHES_MARKS[:] = sorted({str(meshes) + "/", str(meshes.resolve()) + "/"}, key=len,
                             reverse=True)


def digest(dataset: Path, out: Path, every_file: bool = False) -> dict[str, str]:
    """Hashes of a dataset's ``objects/`` and normalized ``dataset.json`` (``every_file``:
    of every file, for a mesh tree)."""
    files = {}
    for p in sorted(dataset.rglob("*")):
        rel = p.relative_to(dataset)
        if not p.is_file() or (not every_file and rel.parts[0] != "objects"
                               and p.name != "dataset.json"):
            continue
        data = p.read_bytes()
        if p.suffix == ".json":
            data = json.dumps(_normalized(json.loads(data), out), sort_keys=True).encode()
        files[str(rel)] = hashlib.sha256(data).hexdigest()
    return files


def addon_render(meshes: Path, out: Path) -> None:
    """The add-on's "Render views" on the first chair of ``meshes`` (the OBJ imported and
    joined, named by its ShapeNet id), 2 views at 48 px, 2 samples, seed 3."""
    import aist_blender_addon
    import bpy

    os.environ["AIST_CLI"] = AIST
    chair = sorted(p for p in meshes.iterdir() if p.is_dir())[0]
    bpy.ops.wm.read_factory_settings(use_empty=True)
    aist_blender_addon.register()
    try:
        bpy.ops.wm.obj_import(filepath=str(chair / "model.obj"))
        objs = [o for o in bpy.context.scene.objects if o.type == "MESH"]
        for o in objs:
            o.select_set(True)
        bpy.context.view_layer.objects.active = objs[0]
        if len(objs) > 1:
            bpy.ops.object.join()
        bpy.context.view_layer.objects.active.name = chair.name
        s = bpy.context.scene.aist
        s.output = str(out)
        s.views, s.size, s.samples, s.seed = 2, 48, 2, 3
        s.elevation_min, s.elevation_max = 0.0, 40.0
        if bpy.ops.aist.render_views() != {"FINISHED"}:
            sys.exit(f"the add-on's render failed: {s.status}")
    finally:
        aist_blender_addon.unregister()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--meshes", type=Path,
                    default=Path(__file__).resolve().parents[2] / "shared" / "data" / "meshes")
    ap.add_argument("--photos", type=Path)
    ap.add_argument("--digest-only", action="store_true",
                    help="Hash the datasets already in OUT (run nothing).")
    ap.add_argument("--only", help="Comma-separated commands to run and hash (those they "
                    "read must have run into OUT before).")
    args = ap.parse_args()
    set_meshes(args.meshes)
    photos = args.photos or Path(__file__).resolve().parents[1] / "aist_app" / "sample_data" \
        / "photos"
    result = {}
    only = set(args.only.split(",")) if args.only else None
    for name, cmd in commands(args.out, args.meshes, photos).items():
        if only is not None and name not in only:
            continue
        if name == "import-dpc" and not args.digest_only:
            sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
            from aist_app.dataset import Dataset
            from tests.helpers.dpc_layout import make_dpc_fixture

            make_dpc_fixture(Dataset.open(args.out / "render"), args.out / "dpc")
        if name == "addon-render" and not args.digest_only:
            from aist_plugins.blender_renderer import quiet_stdout

            with quiet_stdout(args.out / "blender.log"):  # not into the JSON on stdout
                addon_render(Path(cmd[1]), Path(cmd[2]))
        elif not args.digest_only:
            p = subprocess.run([AIST, *cmd], capture_output=True, text=True)
            if p.returncode != 0:
                sys.exit(f"aist {' '.join(cmd)} -> {p.returncode}\n{p.stderr[-2000:]}")
        if name != "train-stylizer":
            where = Path(cmd[1] if name == "make-cars" else cmd[2])
            result[name] = digest(where, args.out, every_file=name == "make-cars")
    json.dump(result, sys.stdout, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
