import numpy as np
import pytest

from aist_app.scene.cameras import (
    camera_centre,
    matrix_from_quaternion,
    orbit_camera,
    points_mask,
    project,
    quaternion_from_matrix,
)


def test_origin_projects_to_image_centre():
    cam = orbit_camera(37.0, 21.0, image_size=(128, 96))
    uv, z = project(np.zeros((1, 3)), cam.world_to_camera, cam.K)
    assert np.allclose(uv[0], [48.0, 64.0])
    assert z[0] == pytest.approx(2.0)


def test_focal_length_is_the_references():
    """DPC: x f / z on an image plane spanning [-0.5, 0.5] (dpc/util/point_cloud.py) and a
    60 mm lens on a 32 mm sensor (dpc/render/render_point_cloud_blender.py): f = 1.875 W."""
    cam = orbit_camera(0.0, 0.0, image_size=(128, 128))
    assert cam.K[0, 0] == pytest.approx(240.0)
    assert cam.K[0, 0] == pytest.approx(60.0 / 32.0 * 128)
    fov = 2 * np.degrees(np.arctan(64 / cam.K[0, 0]))
    assert fov == pytest.approx(29.86, abs=0.01)
    assert orbit_camera(0, 0, image_size=(96, 160)).K[0, 0] == pytest.approx(1.875 * 160)


def test_relative_focal_length_reads_old_and_new_datasets():
    from aist_app.scene.cameras import IntrinsicsError, intrinsics, relative_focal_length

    assert relative_focal_length(intrinsics((128, 128)), (128, 128)) == pytest.approx(1.875)
    old = np.array([[120.0, 0, 64], [0, 120.0, 64], [0, 0, 1]])  # written before the fix
    assert relative_focal_length(old, (128, 128)) == pytest.approx(0.9375)
    off = np.array([[240.0, 0, 60], [0, 240.0, 64], [0, 0, 1]])
    with pytest.raises(IntrinsicsError, match="principal point"):
        relative_focal_length(off, (128, 128), where="x/cameras.json")


@pytest.mark.parametrize("up_axis", ["y", "z"])
def test_up_projects_upwards_and_right_is_right(up_axis):
    cam = orbit_camera(0.0, 0.0, up_axis=up_axis)
    up = np.array([[0, 0.3, 0]]) if up_axis == "y" else np.array([[0, 0, 0.3]])
    uv, _ = project(up, cam.world_to_camera, cam.K)
    assert uv[0, 1] < 64 and uv[0, 0] == pytest.approx(64)  # v grows downwards
    # Azimuth 0 looks from +z (y-up): world +x appears on the right.
    uv, _ = project(np.array([[0.3, 0, 0]]), cam.world_to_camera, cam.K)
    assert uv[0, 0] > 64


def test_elevation_is_angle_above_ground_plane():
    c = camera_centre(123.0, 30.0, 2.0, "y")
    assert c[1] == pytest.approx(2.0 * np.sin(np.radians(30)))
    cz = camera_centre(123.0, 30.0, 2.0, "z")
    assert np.allclose(cz, [c[0], -c[2], c[1]])  # the same camera after Y-up -> Z-up


def test_rotation_is_orthonormal_and_quaternion_roundtrips():
    for az, el in [(0, 0), (90, 45), (200, -20), (10, 89.9), (0, 90)]:
        cam = orbit_camera(az, el)
        R = cam.R
        assert np.allclose(R @ R.T, np.eye(3), atol=1e-9)
        assert np.linalg.det(R) == pytest.approx(1.0)
        q = quaternion_from_matrix(R)
        assert q[0] >= 0 and np.linalg.norm(q) == pytest.approx(1.0)
        assert np.allclose(matrix_from_quaternion(q), R, atol=1e-9)
        assert np.allclose(cam.centre, camera_centre(az, el, 2.0, "y"), atol=1e-9)


def test_points_mask_pixel_convention():
    cam = orbit_camera(0.0, 0.0, image_size=(8, 8))
    # A point exactly on the optical axis falls in pixel (4, 4): [4, 5) x [4, 5).
    m = points_mask(np.zeros((1, 3)), cam, (8, 8))
    assert m.sum() == 1 and m[4, 4]
