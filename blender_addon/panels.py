"""The ``AIST`` sidebar tab of the 3D viewport."""

from __future__ import annotations

import bpy

from . import operators


class _AistSidebar:
    """Where every AIST panel lives: the 3D viewport's sidebar, tab "AIST"."""

    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "AIST"


class AIST_PT_render(_AistSidebar, bpy.types.Panel):
    bl_label = "Render views"
    bl_idname = "AIST_PT_render"

    def draw(self, context) -> None:
        s = context.scene.aist
        col = self.layout.column(align=True)
        col.prop(s, "scope", expand=True)
        col.prop(s, "views")
        row = col.row(align=True)
        row.prop(s, "azimuth_min")
        row.prop(s, "azimuth_max")
        row = col.row(align=True)
        row.prop(s, "elevation_min")
        row.prop(s, "elevation_max")
        col.prop(s, "size")
        col.prop(s, "samples")
        col.prop(s, "random_lights")
        col.prop(s, "seed")
        col.prop(s, "output")
        col.prop(s, "overwrite")
        _job_row(self.layout, context, operators.AIST_OT_render_views.bl_idname, "RENDER_STILL")


class AIST_PT_stylize(_AistSidebar, bpy.types.Panel):
    bl_label = "Stylize"
    bl_idname = "AIST_PT_stylize"

    def draw(self, context) -> None:
        s = context.scene.aist
        self.layout.prop(s, "checkpoint")
        self.layout.prop(s, "stylized")
        self.layout.prop(s, "overwrite")
        self.layout.prop(s, "device")
        _job_row(self.layout, context, operators.AIST_OT_stylize.bl_idname, "BRUSH_DATA")


class AIST_PT_reconstruct(_AistSidebar, bpy.types.Panel):
    bl_label = "Reconstruct"
    bl_idname = "AIST_PT_reconstruct"

    def draw(self, context) -> None:
        s = context.scene.aist
        self.layout.prop(s, "pose_run")
        self.layout.prop(s, "view_image")
        row = self.layout.row()
        row.prop(s, "refine")
        if s.refine:
            row.prop(s, "refine_steps")
        _job_row(self.layout, context, operators.AIST_OT_reconstruct.bl_idname, "POINTCLOUD_DATA")
        self.layout.operator(operators.AIST_OT_import_point_cloud.bl_idname, icon="IMPORT")


def _job_row(layout, context, idname: str, icon: str) -> None:
    s = context.scene.aist
    if operators.running():
        layout.progress(factor=s.progress, text=s.status or "working")
        layout.operator(operators.AIST_OT_cancel.bl_idname, icon="CANCEL")
    else:
        layout.operator(idname, icon=icon)
        if s.status:
            layout.label(text=s.status)


CLASSES = (AIST_PT_render, AIST_PT_stylize, AIST_PT_reconstruct)
