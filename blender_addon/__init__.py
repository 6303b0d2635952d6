"""AIST for Blender: render datasets of the selected objects, stylize them and reconstruct
shape and pose, from the ``AIST`` tab of the 3D viewport's sidebar.

A Blender 4.2+ extension (``blender_manifest.toml``). It needs no torch: the work runs in
the user's ``aist`` environment as a subprocess (set its path in the preferences).
"""

from __future__ import annotations

import bpy

from . import operators, panels, props

CLASSES = (props.AIST_PG_settings, props.AIST_AP_preferences, *operators.CLASSES,
           *panels.CLASSES)


def register() -> None:
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    props.register_props()


def unregister() -> None:
    job = operators._state.get("job")
    if job is not None:
        job.cancel()
        operators._state["job"] = None
    props.unregister_props()
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
