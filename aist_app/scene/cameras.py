"""The product's one camera convention.

Pinhole camera, OpenCV axes: camera x right, y down, z forward (looking at the object). A point
``X`` in the object frame maps to pixel ``(u, v) = (x/z, y/z)`` with ``(x, y, z) = K (R X + t)``;
pixel ``(i, j)`` covers ``[i, i+1) x [j, j+1)``, so the image centre is ``(W/2, H/2)``.

Viewpoints are given by azimuth, elevation and distance around the object's up axis:

- ``up_axis="y"``: centre ``d (cos e sin a, sin e, cos e cos a)`` (azimuth 0 looks from +z);
- ``up_axis="z"``: centre ``d (cos e sin a, -cos e cos a, sin e)``, the same physical camera
  after the usual Y-up to Z-up conversion ``(x, y, z) -> (x, -z, y)``.

``quaternion_wxyz`` is the rotation ``R`` of ``world_to_camera`` (object frame to camera frame)
as a unit quaternion with ``w >= 0``. The focal length is given DPC-style, relative to the
image **width**: ``f_pixels = focal_length * W`` (DPC: distance 2.0, focal length 1.875, so
240 px at 128^2 and a 29.86 degree field of view). The reference projects ``x f / z`` onto an
image plane spanning ``[-0.5, 0.5]`` (``dpc/util/point_cloud.py``) and its Blender cameras use
a 60 mm lens on a 32 mm sensor (``dpc/render/render_point_cloud_blender.py``): both give
``1.875 W``. Datasets written before this convention (``f = 1.875 W / 2``) still open: every
consumer reads K from the dataset (:func:`relative_focal_length`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from aist_app.common.exact import norm3
from aist_app.scene.defaults import DEFAULT_DISTANCE, DEFAULT_FOCAL_LENGTH  # noqa: F401

#: OpenCV camera axes to OpenGL/Blender camera axes (x right, y up, looking down -z).
CV_TO_GL = np.diag([1.0, -1.0, -1.0, 1.0])


@dataclass(frozen=True)
class Camera:
    """One view's camera: extrinsics in the object frame and pinhole intrinsics."""

    azimuth_deg: float
    elevation_deg: float
    distance: float
    world_to_camera: np.ndarray  # (4, 4)
    K: np.ndarray  # (3, 3)

    @property
    def R(self) -> np.ndarray:
        return self.world_to_camera[:3, :3]

    @property
    def t(self) -> np.ndarray:
        return self.world_to_camera[:3, 3]

    @property
    def centre(self) -> np.ndarray:
        return -self.R.T @ self.t

    def camera_to_world_gl(self) -> np.ndarray:
        """Pose of the camera in the object frame, in OpenGL/Blender camera axes."""
        return np.linalg.inv(self.world_to_camera) @ CV_TO_GL

    def to_json(self, file: str) -> dict:
        return {
            "file": file,
            "azimuth_deg": float(self.azimuth_deg),
            "elevation_deg": float(self.elevation_deg),
            "distance": float(self.distance),
            "quaternion_wxyz": [float(x) for x in quaternion_from_matrix(self.R)],
            "world_to_camera": [[float(x) for x in row] for row in self.world_to_camera],
            "K": [[float(x) for x in row] for row in self.K],
        }

    @classmethod
    def from_json(cls, view: dict) -> Camera:
        return cls(
            azimuth_deg=float(view["azimuth_deg"]),
            elevation_deg=float(view["elevation_deg"]),
            distance=float(view["distance"]),
            world_to_camera=np.asarray(view["world_to_camera"], dtype=np.float64),
            K=np.asarray(view["K"], dtype=np.float64),
        )


def up_vector(up_axis: str) -> np.ndarray:
    if up_axis == "y":
        return np.array([0.0, 1.0, 0.0])
    if up_axis == "z":
        return np.array([0.0, 0.0, 1.0])
    raise ValueError(f"up_axis must be 'y' or 'z', not {up_axis!r}")


def camera_centre(azimuth_deg: float, elevation_deg: float, distance: float, up_axis: str):
    """The camera centre of a viewpoint (Python's libm, not NumPy's CPU-dispatched sin/cos:
    the same bits on every processor)."""
    a, e = math.radians(float(azimuth_deg)), math.radians(float(elevation_deg))
    if up_axis == "y":
        c = (math.cos(e) * math.sin(a), math.sin(e), math.cos(e) * math.cos(a))
    elif up_axis == "z":
        c = (math.cos(e) * math.sin(a), -math.cos(e) * math.cos(a), math.sin(e))
    else:
        raise ValueError(f"up_axis must be 'y' or 'z', not {up_axis!r}")
    return float(distance) * np.asarray(c)


def look_at(centre: np.ndarray, target: np.ndarray, up: np.ndarray) -> np.ndarray:
    """World-to-camera matrix (OpenCV axes) of a camera at ``centre`` looking at ``target``
    (no BLAS: bit-identical across processors)."""
    centre = np.asarray(centre, dtype=np.float64)
    f = np.asarray(target, dtype=np.float64) - centre
    f = f / norm3(f)
    right = np.cross(f, up)
    if norm3(right) < 1e-8:  # looking straight along the up axis
        alt = np.roll(up, 1)
        right = np.cross(f, alt)
    right = right / norm3(right)
    down = np.cross(f, right)
    R = np.stack([right, down, f])
    m = np.eye(4)
    m[:3, :3] = R
    m[:3, 3] = -(R[:, 0] * centre[0] + R[:, 1] * centre[1] + R[:, 2] * centre[2])
    return m


def intrinsics(image_size: tuple[int, int], focal_length: float = DEFAULT_FOCAL_LENGTH):
    """K of a centred pinhole with ``f_pixels = focal_length * W`` (square pixels)."""
    h, w = image_size
    f = focal_length * w
    return np.array([[f, 0.0, w / 2.0], [0.0, f, h / 2.0], [0.0, 0.0, 1.0]])


class IntrinsicsError(ValueError):
    """Views whose intrinsics a consumer cannot use (names the file)."""


def relative_focal_length(K, image_size: tuple[int, int], *, where: str = "") -> float:
    """``f_pixels / W`` of a centred, square-pixel K (what the DPC projection needs);
    raises :class:`IntrinsicsError` for anything else."""
    K = np.asarray(K, dtype=np.float64)
    h, w = image_size
    fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
    tol = 1e-6 * max(w, h, fx)
    if abs(fx - fy) > tol or abs(cx - w / 2.0) > tol or abs(cy - h / 2.0) > tol or \
            abs(K[0, 1]) > tol:
        raise IntrinsicsError(
            f"{where}: K {K.tolist()} is not a centred pinhole with square pixels "
            f"(fx = fy, principal point ({w / 2}, {h / 2})); the pose model cannot use it")
    return float(fx / w)


def orbit_camera(
    azimuth_deg: float,
    elevation_deg: float,
    *,
    distance: float = DEFAULT_DISTANCE,
    focal_length: float = DEFAULT_FOCAL_LENGTH,
    image_size: tuple[int, int] = (128, 128),
    up_axis: str = "y",
) -> Camera:
    centre = camera_centre(azimuth_deg, elevation_deg, distance, up_axis)
    w2c = look_at(centre, np.zeros(3), up_vector(up_axis))
    return Camera(azimuth_deg, elevation_deg, distance, w2c, intrinsics(image_size, focal_length))


def project(points: np.ndarray, world_to_camera: np.ndarray, K: np.ndarray):
    """Project (N, 3) object-frame points; returns pixel coords (N, 2) and depths (N,)."""
    cam = points @ world_to_camera[:3, :3].T + world_to_camera[:3, 3]
    z = cam[:, 2]
    uvw = cam @ K.T
    with np.errstate(divide="ignore", invalid="ignore"):
        uv = uvw[:, :2] / uvw[:, 2:3]
    return uv, z


def points_mask(points: np.ndarray, camera: Camera, image_size: tuple[int, int]) -> np.ndarray:
    """Boolean (H, W) mask of the pixels that at least one projected point falls in."""
    h, w = image_size
    uv, z = project(points, camera.world_to_camera, camera.K)
    ij = np.floor(uv).astype(np.int64)
    ok = (z > 0) & (ij[:, 0] >= 0) & (ij[:, 0] < w) & (ij[:, 1] >= 0) & (ij[:, 1] < h)
    mask = np.zeros((h, w), dtype=bool)
    mask[ij[ok, 1], ij[ok, 0]] = True
    return mask


def quaternion_from_matrix(R: np.ndarray) -> np.ndarray:
    """Unit quaternion (w, x, y, z), w >= 0, of a rotation matrix."""
    from scipy.spatial.transform import Rotation

    x, y, z, w = Rotation.from_matrix(np.asarray(R, dtype=np.float64)).as_quat()
    q = np.array([w, x, y, z])
    return -q if q[0] < 0 else q


def matrix_from_quaternion(q_wxyz) -> np.ndarray:
    from scipy.spatial.transform import Rotation

    w, x, y, z = q_wxyz
    return Rotation.from_quat([x, y, z, w]).as_matrix()


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


def camera_summary(view: dict, image_size: tuple[int, int]) -> dict[str, float | list]:
    """A view's camera as people read it: azimuth, elevation, distance, focal length in
    pixels and horizontal / vertical field of view, principal point, quaternion (w x y z),
    and the camera centre in the object frame. ``image_size`` is (H, W)."""
    K = np.asarray(view["K"], dtype=np.float64)
    h, w = image_size
    fx, fy = float(K[0, 0]), float(K[1, 1])
    cam = Camera.from_json(view)
    return {
        "azimuth_deg": float(view["azimuth_deg"]),
        "elevation_deg": float(view["elevation_deg"]),
        "distance": float(view["distance"]),
        "focal_px": fx if abs(fx - fy) < 1e-9 else [fx, fy],
        "focal_relative": fx / w,
        "fov_h_deg": float(np.degrees(2 * np.arctan(w / (2 * fx)))),
        "fov_v_deg": float(np.degrees(2 * np.arctan(h / (2 * fy)))),
        "principal_point_px": [float(K[0, 2]), float(K[1, 2])],
        "quaternion_wxyz": [float(x) for x in view.get(
            "quaternion_wxyz", quaternion_from_matrix(cam.R))],
        "centre": [float(x) for x in cam.centre],
    }


def frustum_points(world_to_camera: np.ndarray, K: np.ndarray, size: tuple[int, int],
            depth: float = 0.35) -> np.ndarray:
    """Five points (centre, then the image corners at ``depth``) in the object frame."""
    h, w = size
    R, t = world_to_camera[:3, :3], world_to_camera[:3, 3]
    centre = -R.T @ t
    corners = []
    for u, v in ((0, 0), (w, 0), (w, h), (0, h)):
        ray = np.linalg.inv(K) @ np.array([u, v, 1.0])
        corners.append(centre + R.T @ (ray * depth))
    return np.vstack([centre, corners])


def viewpoint_of(world_to_camera: np.ndarray, up_axis: str = "y") -> dict[str, float]:
    """The azimuth, elevation (degrees) and distance of a camera (the inverse of
    :func:`camera_centre` for its centre), e.g. a pose model's predicted camera."""
    w2c = np.asarray(world_to_camera, dtype=np.float64)
    c = -w2c[:3, :3].T @ w2c[:3, 3]
    d = float(np.linalg.norm(c))
    x, y, z = (c[0], c[1], c[2]) if up_axis == "y" else (c[0], c[2], -c[1])
    return {"azimuth_deg": float(np.degrees(np.arctan2(x, z)) % 360.0),
            "elevation_deg": float(np.degrees(np.arcsin(np.clip(y / max(d, 1e-12), -1, 1)))),
            "distance": d}


def rotation_error_deg(world_to_camera_a: np.ndarray, world_to_camera_b: np.ndarray) -> float:
    """The angle (degrees) of the rotation between two cameras' orientations."""
    ra = np.asarray(world_to_camera_a, dtype=np.float64)[:3, :3]
    rb = np.asarray(world_to_camera_b, dtype=np.float64)[:3, :3]
    cos = (np.trace(ra.T @ rb) - 1.0) / 2.0
    return float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))))
