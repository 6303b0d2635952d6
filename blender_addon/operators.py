"""Thin ``AIST_OT_*`` operators over the ``aist`` command line.

Heavy work (rendering with Cycles, torch) runs as a subprocess of the user's ``aist``
environment, so the add-on installs in a stock Blender. Interactively the operators are
modal: a timer polls the subprocess, the panel shows its progress, Esc or Cancel stops it.
Run from a script or in background mode, ``execute`` waits for the subprocess instead.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import tempfile
from pathlib import Path

import bpy
from bpy.props import StringProperty
from bpy_extras.io_utils import ImportHelper

from . import geometry
from .jobs import CLINotFound, Job, find_cli
from .props import preferences

_state: dict = {"job": None}


def running() -> bool:
    job = _state["job"]
    return job is not None and job.proc.poll() is None


def _cli(context) -> str:
    prefs = preferences(context)
    return find_cli(prefs.cli if prefs else "")


def _checkpoint(value: str, choose: str, what: str) -> Path:
    """The existing file or folder a checkpoint property names; errors say what to do."""
    if not value:
        raise ValueError(f"choose {choose} (a run folder or a .pt file)")
    path = Path(bpy.path.abspath(value))
    if not path.exists():
        raise FileNotFoundError(f"{what} not found: {path}")
    return path


def _output(context, value: str, name: str) -> Path:
    if value:
        return Path(bpy.path.abspath(value))
    prefs = preferences(context)
    base = Path(bpy.path.abspath(prefs.output_dir)) if prefs and prefs.output_dir else (
        Path(bpy.path.abspath("//")) if bpy.data.filepath else Path(tempfile.gettempdir()))
    return base / name


def _safe(name: str) -> str:
    """An object's export (and dataset object id) name: its name when that is a plain
    ASCII name already, else the name cleaned with a digest of the exact name, so distinct
    objects never share a file ("Car.001" and "Car 001", "車" and "椅子")."""
    clean = re.sub(r"[^A-Za-z0-9_-]+", "_", name).strip("_") or "object"
    if clean == name:
        return name
    return f"{clean[:80]}-{hashlib.sha256(name.encode('utf-8')).hexdigest()[:8]}"


class _JobOperator:
    """Start a command, then poll it (modal) or wait for it (execute)."""

    _timer = None

    def command(self, context) -> list[str]:
        raise NotImplementedError

    def finished(self, context, job: Job) -> None:
        """Called once the command succeeded."""

    def _start(self, context) -> Job | None:
        if running():
            self.report({"ERROR"}, "AIST is already running a job: cancel it or wait")
            return None
        try:
            args = self.command(context)
        except (CLINotFound, ValueError, FileNotFoundError) as e:
            self.report({"ERROR"}, str(e))
            return None
        job = Job(args, label=self.bl_label)
        _state["job"] = job
        s = context.scene.aist
        s.progress, s.status = 0.0, f"{self.bl_label}…"
        return job

    def _finish(self, context, job: Job, code: int) -> set[str]:
        s = context.scene.aist
        _state["job"] = None
        if job.cancelled:
            s.status = f"{self.bl_label}: cancelled"
            self.report({"WARNING"}, s.status)
            return {"CANCELLED"}
        if code != 0:
            s.status = f"{self.bl_label} failed: {job.error()}"
            self.report({"ERROR"}, s.status)
            return {"CANCELLED"}
        s.progress = 1.0
        try:
            self.finished(context, job)
        except (ValueError, OSError) as e:
            s.status = f"{self.bl_label}: {e}"
            self.report({"ERROR"}, s.status)
            return {"CANCELLED"}
        s.status = f"{self.bl_label}: done"
        self.report({"INFO"}, s.status)
        return {"FINISHED"}

    def execute(self, context):
        job = self._start(context)
        if job is None:
            return {"CANCELLED"}
        return self._finish(context, job, job.wait())

    def invoke(self, context, event):
        job = self._start(context)
        if job is None:
            return {"CANCELLED"}
        wm = context.window_manager
        self._timer = wm.event_timer_add(0.2, window=context.window)
        wm.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context, event):
        job = _state["job"]
        if job is None:
            return self._stop(context, {"CANCELLED"})
        if event.type == "ESC":
            job.cancel()
        if event.type in {"TIMER", "ESC"}:
            code = job.poll()
            context.scene.aist.progress = job.progress
            if job.message:
                context.scene.aist.status = f"{self.bl_label}: {job.message}"
            for area in context.screen.areas if context.screen else []:
                if area.type == "VIEW_3D":
                    area.tag_redraw()
            if code is not None:
                return self._stop(context, self._finish(context, job, code))
        return {"PASS_THROUGH"}

    def _stop(self, context, result):
        if self._timer is not None:
            context.window_manager.event_timer_remove(self._timer)
            self._timer = None
        return result


class AIST_OT_render_views(_JobOperator, bpy.types.Operator):
    """Render views of the selected objects (or the scene) into an AIST dataset, with the
    same cameras, normalization and outputs as `aist render --renderer blender`"""

    bl_idname = "aist.render_views"
    bl_label = "Render views"
    bl_options = {"REGISTER"}

    def command(self, context) -> list[str]:
        s = context.scene.aist
        objs = (context.selected_objects if s.scope == "SELECTED"
                else list(context.scene.objects))
        if not objs:
            raise ValueError("nothing selected: select one or more mesh objects")
        meshes = [o for o in objs if o.type == "MESH"]
        if not meshes:
            raise ValueError("no mesh among the objects to render")
        cli = _cli(context)
        out = _output(context, s.output, "aist-dataset")
        # One export folder per output (the render's input identity stays the same, so a
        # second render into the output continues it), emptied before each export.
        key = hashlib.sha256(str(out.resolve()).encode()).hexdigest()[:12]
        folder = Path(tempfile.gettempdir()) / f"aist-meshes-{key}"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        self._export(context, meshes, folder)
        overwrite = ["--overwrite"] if s.overwrite else []
        return [cli, "render", str(folder), str(out), "--renderer", "blender", *overwrite,
                "--device", s.device,
                "--views", str(s.views), "--size", str(s.size),
                "--azimuth", f"{s.azimuth_min:g}:{s.azimuth_max:g}",
                "--elevation", f"{s.elevation_min:g}:{s.elevation_max:g}",
                "--samples", str(s.samples), "--seed", str(s.seed),
                "--random-lights" if s.random_lights else "--fixed-lights"]

    @staticmethod
    def _export(context, meshes, folder: Path) -> None:
        """One GLB per object (named after it), in world space, y-up like `aist render`."""
        selected = list(context.selected_objects)
        active = context.view_layer.objects.active
        names = [_safe(obj.name) for obj in meshes]
        if len(set(names)) != len(names):  # a digest collision: say so, drop nothing
            raise ValueError("two selected objects would export to one file name: rename "
                             "one of " + ", ".join(o.name for o in meshes))
        try:
            for obj in meshes:
                for o in context.view_layer.objects:
                    o.select_set(False)
                obj.select_set(True)
                context.view_layer.objects.active = obj
                bpy.ops.export_scene.gltf(filepath=str(folder / f"{_safe(obj.name)}.glb"),
                                          export_format="GLB", use_selection=True,
                                          export_apply=True, export_yup=True)
        finally:
            for o in context.view_layer.objects:
                o.select_set(o in selected)
            context.view_layer.objects.active = active

    def finished(self, context, job: Job) -> None:
        context.scene.aist.status = job.lines[-1] if job.lines else ""


class AIST_OT_stylize(_JobOperator, bpy.types.Operator):
    """Stylize the rendered dataset with a stylizer checkpoint (masks and annotations are
    kept exactly)"""

    bl_idname = "aist.stylize"
    bl_label = "Stylize"

    def command(self, context) -> list[str]:
        s = context.scene.aist
        ckpt = _checkpoint(s.checkpoint, "a stylizer checkpoint", "stylizer checkpoint")
        dataset = _output(context, s.output, "aist-dataset")
        if not (dataset / "dataset.json").is_file():
            raise FileNotFoundError(f"no dataset at {dataset}: render views first")
        out = _output(context, s.stylized, "aist-stylized")
        return [_cli(context), "stylize", str(ckpt), str(dataset), str(out),
                "--device", s.device, *(["--overwrite"] if s.overwrite else [])]


class AIST_OT_reconstruct(_JobOperator, bpy.types.Operator):
    """Reconstruct the point cloud and camera of a view with a pose-model run, then import
    them next to the active object"""

    bl_idname = "aist.reconstruct"
    bl_label = "Reconstruct"

    def command(self, context) -> list[str]:
        s = context.scene.aist
        run = _checkpoint(s.pose_run, "a pose-model run", "pose-model checkpoint")
        image = Path(bpy.path.abspath(s.view_image)) if s.view_image else None
        if image is None:
            obj = context.view_layer.objects.active
            if obj is None:
                raise ValueError("choose a view image, or make a rendered object active")
            image = _output(context, s.output, "aist-dataset") / "objects" / _safe(obj.name) \
                / "view_000.png"
        if not image.is_file():
            raise FileNotFoundError(f"view not found: {image}")
        self._cloud = Path(tempfile.mkdtemp(prefix="aist-rec-")) / f"{image.stem}.npz"
        refine = ["--refine", "--refine-steps", str(s.refine_steps)] if s.refine else []
        return [_cli(context), "reconstruct", str(run), str(image), "--out", str(self._cloud),
                "--device", s.device, *refine]

    def finished(self, context, job: Job) -> None:
        import_cloud(context, self._cloud)


def import_cloud(context, path: Path) -> tuple:
    """Add the point cloud (and its camera, when the file has one) to the scene, mapped from
    the normalized object frame onto the active mesh (same centre and size) if there is one."""
    import numpy as np

    try:
        data = np.load(path)
        pts = np.asarray(data["points"], dtype=np.float64)
    except (OSError, KeyError, ValueError) as e:
        raise ValueError(f"{path}: not a point cloud file ({e})") from None
    if pts.ndim != 2 or pts.shape[1] != 3 or not len(pts):
        raise ValueError(f"{path}: points must be an (N, 3) array")
    centre, extent = (0.0, 0.0, 0.0), 1.0
    active = context.view_layer.objects.active
    if active is not None and active.type == "MESH":
        from mathutils import Vector

        corners = [active.matrix_world @ Vector(c) for c in active.bound_box]
        lo = [min(c[i] for c in corners) for i in range(3)]
        hi = [max(c[i] for c in corners) for i in range(3)]
        centre = tuple((a + b) / 2 for a, b in zip(lo, hi, strict=True))
        extent = max(b - a for a, b in zip(lo, hi, strict=True)) or 1.0

    def to_scene(p):
        x, y, z = geometry.y_up_to_z_up(tuple(float(v) for v in p))
        return (centre[0] + extent * x, centre[1] + extent * y, centre[2] + extent * z)

    mesh = bpy.data.meshes.new(f"AIST cloud {path.stem}")
    mesh.from_pydata([to_scene(p) for p in pts], [], [])
    cloud = bpy.data.objects.new(mesh.name, mesh)
    context.scene.collection.objects.link(cloud)
    _points_modifier(cloud, 0.004 * extent)
    camera = None
    if "world_to_camera" in data:
        from mathutils import Matrix

        w2c = np.asarray(data["world_to_camera"], dtype=np.float64)
        m = geometry.camera_to_world_gl(w2c[:3, :3].tolist(), w2c[:3, 3].tolist())
        y2z = Matrix(((1, 0, 0, 0), (0, 0, -1, 0), (0, 1, 0, 0), (0, 0, 0, 1)))
        scale = Matrix.Diagonal((extent, extent, extent, 1.0))
        cam_data = bpy.data.cameras.new(f"AIST camera {path.stem}")
        if "focal_length" in data:
            cam_data.sensor_fit = "HORIZONTAL"
            cam_data.sensor_width = 36.0
            cam_data.lens = float(data["focal_length"]) * 36.0  # f relative to the width
        camera = bpy.data.objects.new(cam_data.name, cam_data)
        world = Matrix.Translation(centre) @ scale @ y2z @ Matrix(m)
        loc, rot, _ = world.decompose()
        camera.matrix_world = Matrix.LocRotScale(loc, rot, None)
        context.scene.collection.objects.link(camera)
    return cloud, camera


def _points_modifier(obj, radius: float) -> None:
    """Show the vertices as points (Geometry Nodes: Mesh to Points)."""
    try:
        tree = bpy.data.node_groups.new("AIST points", "GeometryNodeTree")
        tree.interface.new_socket("Geometry", in_out="INPUT", socket_type="NodeSocketGeometry")
        tree.interface.new_socket("Geometry", in_out="OUTPUT", socket_type="NodeSocketGeometry")
        n_in = tree.nodes.new("NodeGroupInput")
        n_out = tree.nodes.new("NodeGroupOutput")
        to_points = tree.nodes.new("GeometryNodeMeshToPoints")
        to_points.inputs["Radius"].default_value = radius
        tree.links.new(n_in.outputs[0], to_points.inputs["Mesh"])
        tree.links.new(to_points.outputs["Points"], n_out.inputs[0])
        obj.modifiers.new("AIST points", "NODES").node_group = tree
    except (AttributeError, KeyError, RuntimeError, TypeError):
        pass  # an older node API: the vertices are still there


class AIST_OT_import_point_cloud(bpy.types.Operator, ImportHelper):
    """Import a reconstructed point cloud (.npz: points, optional world_to_camera) and its
    camera next to the active mesh"""

    bl_idname = "aist.import_point_cloud"
    bl_label = "Import point cloud"
    bl_options = {"REGISTER", "UNDO"}

    filename_ext = ".npz"
    filter_glob: StringProperty(default="*.npz", options={"HIDDEN"})

    def execute(self, context):
        path = Path(self.filepath)
        if not path.is_file():
            self.report({"ERROR"}, f"point cloud file not found: {path}")
            return {"CANCELLED"}
        try:
            cloud, camera = import_cloud(context, path)
        except ValueError as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        self.report({"INFO"}, f"imported {len(cloud.data.vertices)} points"
                              + (" and a camera" if camera else ""))
        return {"FINISHED"}


class AIST_OT_cancel(bpy.types.Operator):
    """Stop the running AIST job (completed items are kept; nothing is left half-written)"""

    bl_idname = "aist.cancel"
    bl_label = "Cancel"

    def execute(self, context):
        job = _state["job"]
        if job is None:
            self.report({"WARNING"}, "no AIST job is running")
            return {"CANCELLED"}
        job.cancel()
        return {"FINISHED"}


CLASSES = (AIST_OT_render_views, AIST_OT_stylize, AIST_OT_reconstruct,
           AIST_OT_import_point_cloud, AIST_OT_cancel)
