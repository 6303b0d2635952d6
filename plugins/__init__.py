"""AIST's built-in stages (installed as ``aist_plugins``).

They register through the ``aist.plugins`` entry-point group, exactly like third-party
plugins. Each holds everything specific to its model or library: one module
(``pyrender_renderer``, ``blender_renderer``, ``maskrcnn_segmenter``, ``deeplab_segmenter``)
or one package (``cyclegan``, ``dpc``). The entry-point modules never import torch, bpy or
pyrender at module level (listing stages stays cheap); a package's other modules are
imported when one of its stages runs.
"""
