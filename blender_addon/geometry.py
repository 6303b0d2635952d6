"""Camera math the add-on needs without numpy-heavy dependencies (the product's convention:
OpenCV axes, ``world_to_camera`` maps the object frame to the camera frame)."""

from __future__ import annotations


def camera_to_world_gl(R: list[list[float]], t: list[float]) -> list[list[float]]:
    """A Blender camera's matrix_world (looking down -z, y up) for an OpenCV camera with
    world_to_camera [R | t]."""
    Rt = [[R[j][i] for j in range(3)] for i in range(3)]  # R^-1
    centre = [-sum(Rt[i][k] * t[k] for k in range(3)) for i in range(3)]
    flip = [1.0, -1.0, -1.0]  # OpenCV -> OpenGL camera axes
    m = [[Rt[i][j] * flip[j] for j in range(3)] + [centre[i]] for i in range(3)]
    return m + [[0.0, 0.0, 0.0, 1.0]]


def y_up_to_z_up(p: tuple[float, float, float]) -> tuple[float, float, float]:
    """The product's object frame is y-up; Blender's is z-up (as glTF import/export do)."""
    x, y, z = p
    return (x, -z, y)
