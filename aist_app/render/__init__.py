"""Rendering: the collection pipeline shared by every renderer (the renderer interface is
:mod:`aist_app.api.renderer`)."""
