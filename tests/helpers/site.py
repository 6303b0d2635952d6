"""Installing a test plugin the way a user's package is installed: a module and its
``aist.plugins`` entry point in a temporary site folder put on ``PYTHONPATH``."""

from __future__ import annotations

import os
from pathlib import Path


def install_entry_point(site: Path, source: Path, module: str, entry: str) -> dict[str, str]:
    """``source`` copied to ``site/<module>.py`` and published as the entry point ``entry``;
    the environment (``PYTHONPATH``) to run ``aist`` with it."""
    site.mkdir(parents=True, exist_ok=True)
    (site / f"{module}.py").write_text(source.read_text())
    dist = site / f"{module}-0.1.dist-info"
    dist.mkdir(exist_ok=True)
    name = module.replace("_", "-")
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(f"[aist.plugins]\n{entry} = {module}\n")
    path = os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH", "")) if p)
    return {"PYTHONPATH": path}
