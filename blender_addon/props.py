"""The add-on's settings: per scene (what to render, stylize, reconstruct) and preferences."""

from __future__ import annotations

import bpy
from bpy.props import (
    BoolProperty,
    EnumProperty,
    FloatProperty,
    IntProperty,
    PointerProperty,
    StringProperty,
)


class AIST_PG_settings(bpy.types.PropertyGroup):
    scope: EnumProperty(name="Objects", items=[
        ("SELECTED", "Selected", "Render the selected mesh objects"),
        ("SCENE", "Whole scene", "Render every mesh object of the scene")], default="SELECTED")
    views: IntProperty(name="Views per object", default=5, min=1, max=1000)
    azimuth_min: FloatProperty(name="Azimuth min", default=0.0, min=-360, max=360)
    azimuth_max: FloatProperty(name="Azimuth max", default=360.0, min=-360, max=360)
    elevation_min: FloatProperty(name="Elevation min", default=-20.0, min=-90, max=90)
    elevation_max: FloatProperty(name="Elevation max", default=40.0, min=-90, max=90)
    size: IntProperty(name="Image size", default=128, min=16, max=4096)
    samples: IntProperty(name="Samples", default=16, min=1, max=4096)
    seed: IntProperty(name="Seed", default=0, min=0)
    random_lights: BoolProperty(name="Random lights", default=True)
    output: StringProperty(name="Dataset", subtype="DIR_PATH", default="")
    overwrite: BoolProperty(name="Replace output", default=False,
                            description="Replace what the output folder holds when other "
                                        "settings made it (else such a folder is refused; "
                                        "the same settings continue it)")
    checkpoint: StringProperty(name="Stylizer", subtype="FILE_PATH",
                               description="A stylizer run folder or checkpoint (.pt)")
    stylized: StringProperty(name="Stylized dataset", subtype="DIR_PATH", default="")
    pose_run: StringProperty(name="Pose model", subtype="FILE_PATH",
                             description="A pose-model run folder or checkpoint (.pt)")
    view_image: StringProperty(name="View", subtype="FILE_PATH",
                               description="The view to reconstruct (default: the first "
                                           "view of the active object in the dataset)")
    refine: BoolProperty(name="Refine", default=False,
                         description="Fit the prediction's silhouette to the view by "
                                     "render-and-compare (slow on a CPU: ~20-40 s a view)")
    refine_steps: IntProperty(name="Refine steps", default=2000, min=1,
                              description="Refinement: optimizer steps at most")
    device: EnumProperty(name="Device", items=[("auto", "Auto", ""), ("cpu", "CPU", ""),
                                               ("cuda", "GPU", "")], default="auto")
    progress: FloatProperty(name="Progress", default=0.0, min=0.0, max=1.0, subtype="FACTOR")
    status: StringProperty(name="Status", default="")


class AIST_AP_preferences(bpy.types.AddonPreferences):
    bl_idname = __package__

    cli: StringProperty(name="AIST command or environment", subtype="FILE_PATH",
                        description="Path of the `aist` command, or of the folder of its "
                                    "environment (e.g. the repository with .venv)")
    output_dir: StringProperty(name="Default output folder", subtype="DIR_PATH", default="")

    def draw(self, context) -> None:
        self.layout.prop(self, "cli")
        self.layout.prop(self, "output_dir")


def preferences(context):
    """The add-on's preferences, or None when it was registered without being enabled
    (scripts and tests calling ``register()`` directly)."""
    addon = context.preferences.addons.get(__package__)
    return addon.preferences if addon else None


def register_props() -> None:
    bpy.types.Scene.aist = PointerProperty(type=AIST_PG_settings)


def unregister_props() -> None:
    del bpy.types.Scene.aist
