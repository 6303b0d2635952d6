"""AIST's built-in stages (installed as ``aist_plugins``).

They register through the ``aist.plugins`` entry-point group, exactly like third-party
plugins. Modules here never import torch, bpy or pyrender at module level.
"""
