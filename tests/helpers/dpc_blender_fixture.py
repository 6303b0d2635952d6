"""Write a DPC-layout render folder with Blender set up exactly as the reference's own
scripts (github eldar/differentiable-point-clouds, ``dpc/render/render_point_cloud_blender.py``
``setup_camera`` / ``setup_general`` with ``like_train_data``): lens 60 mm, sensor 32 mm,
camera at ``obj_centened_camera_pos(dist, azimuth, elevation)`` with x and y swapped, a
TRACK_TO constraint (-Z to the origin, Y up), the ShapeNet v1 ``model.obj`` imported with
Blender's OBJ defaults. Per view: ``render_<k>.png`` (RGBA), ``camera_<k>.mat`` (``extrinsic``
= the camera's 4x4 world-to-camera matrix, ``pos``). Ground truth: ``<gt>/<synset>/<id>.mat``
(``points``, surface samples of ``model.obj`` in its own frame).

Independent of AIST on purpose (it imports nothing from it):

    python dpc_blender_fixture.py MODEL_OBJ SYNSET OUT_RENDERS OUT_GT SIZE AZ:EL [AZ:EL ...]
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import bpy
import numpy as np
from scipy.io import savemat


def obj_centened_camera_pos(dist, azimuth_deg, elevation_deg):  # the reference's
    phi = float(elevation_deg) / 180 * math.pi
    theta = float(azimuth_deg) / 180 * math.pi
    x = dist * math.cos(theta) * math.cos(phi)
    y = dist * math.sin(theta) * math.cos(phi)
    z = dist * math.sin(phi)
    return x, y, z


def main() -> None:
    model, synset, renders, gt, size, *views = sys.argv[1:]
    size = int(size)
    model = Path(model)
    mid = model.parent.name
    out = Path(renders) / synset / mid
    out.mkdir(parents=True, exist_ok=True)
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    bpy.ops.wm.obj_import(filepath=str(model))  # defaults: forward -Z, up Y
    target = bpy.data.objects.new("Cube", None)  # the reference tracks a hidden cube at 0
    scene.collection.objects.link(target)
    cam_data = bpy.data.cameras.new("Camera")
    cam = bpy.data.objects.new("Camera", cam_data)
    scene.collection.objects.link(cam)
    scene.camera = cam
    cam_data.lens = 60  # 60 mm focal length
    cam_data.sensor_height = 32.0
    cam_data.sensor_width = float(cam_data.sensor_height) / size * size
    cam_data.clip_end = 10000.0
    ttc = cam.constraints.new(type="TRACK_TO")
    ttc.target = target
    ttc.track_axis = "TRACK_NEGATIVE_Z"
    ttc.up_axis = "UP_Y"
    scene.render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    scene.cycles.samples = 4
    scene.render.resolution_x = scene.render.resolution_y = size
    scene.render.resolution_percentage = 100
    scene.render.film_transparent = True
    scene.render.image_settings.file_format = "PNG"
    scene.render.image_settings.color_mode = "RGBA"
    light = bpy.data.objects.new("Sun", bpy.data.lights.new("Sun", "SUN"))
    scene.collection.objects.link(light)
    for k, spec in enumerate(views):
        az, el = (float(v) for v in spec.split(":"))
        x, y, z = obj_centened_camera_pos(2.0, az, el)  # DPC's camera distance
        cam.location = (y, x, z)
        bpy.context.view_layer.update()
        extrinsic = np.array(cam.matrix_world.inverted())
        scene.render.filepath = str(out / f"render_{k}.png")
        bpy.ops.render.render(write_still=True)
        savemat(out / f"camera_{k}.mat", {"extrinsic": extrinsic.astype(np.float32),
                                          "pos": np.array(cam.location)})
    # Ground truth: uniform surface samples of model.obj in its own (ShapeNet v1) frame.
    verts, faces = [], []
    for line in model.read_text(errors="replace").splitlines():
        if line.startswith("v "):
            verts.append([float(t) for t in line.split()[1:4]])
        elif line.startswith("f "):
            idx = [int(t.split("/")[0]) for t in line.split()[1:]]
            idx = [i - 1 if i > 0 else len(verts) + i for i in idx]
            faces += [[idx[0], idx[j], idx[j + 1]] for j in range(1, len(idx) - 1)]
    tri = np.asarray(verts)[np.asarray(faces)]
    area = np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)
    rng = np.random.default_rng(0)
    f = rng.choice(len(tri), 30000, p=area / area.sum())
    r1, r2 = np.sqrt(rng.random(30000)), rng.random(30000)
    pts = ((1 - r1)[:, None] * tri[f, 0] + (r1 * (1 - r2))[:, None] * tri[f, 1]
           + (r1 * r2)[:, None] * tri[f, 2])
    (Path(gt) / synset).mkdir(parents=True, exist_ok=True)
    savemat(Path(gt) / synset / f"{mid}.mat", {"points": pts.astype(np.float32)})


if __name__ == "__main__":
    main()
