"""Rendering: the renderer interface and the collection pipeline shared by every renderer."""
