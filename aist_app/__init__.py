"""AIST: Annotation Invariant Style Transfer.

Realistic renders of 3D models that keep their shape and pose annotations, and the tools to
measure what that does to a shape-and-pose reconstruction model.

Plugins import the hook marker from here: ``from aist_app import hookimpl``.
"""

import pluggy

__version__ = "0.1.0"

#: Marker for hook implementations in AIST plugins.
hookimpl = pluggy.HookimplMarker("aist")

__all__ = ["__version__", "hookimpl"]
