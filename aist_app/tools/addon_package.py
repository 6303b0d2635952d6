"""Packaging the Blender add-on as an extension zip (manifest at the zip's root)."""

from __future__ import annotations

import tomllib
import zipfile
from pathlib import Path

from aist_app.common.io_utils import atomic_write

REQUIRED = ("schema_version", "id", "version", "name", "tagline", "maintainer", "type",
            "blender_version_min", "license")


def addon_dir() -> Path:
    """The add-on's source folder, found without importing it (it imports bpy)."""
    import importlib.util

    spec = importlib.util.find_spec("aist_blender_addon")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the aist_blender_addon package is not installed")
    return Path(list(spec.submodule_search_locations)[0])


def check_manifest(path: Path) -> dict:
    """The manifest, checked against the fields and forms Blender's extension schema 1.0.0
    requires."""
    try:
        m = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise ValueError(f"{path}: unreadable manifest ({e})") from None
    missing = [k for k in REQUIRED if k not in m]
    if missing:
        raise ValueError(f"{path}: missing {missing}")
    if m["schema_version"] != "1.0.0" or m["type"] not in ("add-on", "theme"):
        raise ValueError(f"{path}: schema_version must be 1.0.0 and type add-on or theme")
    if not m["id"].isidentifier():
        raise ValueError(f"{path}: id must be a Python identifier")
    if len(m["tagline"]) > 64 or m["tagline"].endswith((".", "!", "?")):
        raise ValueError(f"{path}: the tagline must be at most 64 characters, no final "
                         "punctuation")
    for key in ("version", "blender_version_min"):
        parts = str(m[key]).split(".")
        if len(parts) != 3 or not all(p.isdigit() for p in parts):
            raise ValueError(f"{path}: {key} must be MAJOR.MINOR.PATCH")
    if not all(lic.startswith("SPDX:") for lic in m["license"]):
        raise ValueError(f"{path}: licenses must be SPDX identifiers (SPDX:MIT)")
    for k, reason in m.get("permissions", {}).items():
        if k not in ("files", "network", "clipboard", "camera", "microphone"):
            raise ValueError(f"{path}: unknown permission {k!r}")
        if not reason or reason.endswith("."):
            raise ValueError(f"{path}: permission {k!r} needs a reason without a final period")
    return m


def build_addon(out: str | Path) -> list[str]:
    src = addon_dir()
    check_manifest(src / "blender_manifest.toml")
    files = sorted(p for p in src.iterdir()
                   if p.is_file() and (p.suffix in (".py", ".toml", ".md")))

    def write(f) -> None:
        with zipfile.ZipFile(f, "w", zipfile.ZIP_DEFLATED) as z:
            for p in files:
                z.write(p, p.name)

    atomic_write(Path(out), write)
    return [p.name for p in files]
