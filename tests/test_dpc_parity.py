"""Parity with the reference implementation (github eldar/differentiable-point-clouds,
commit d9b6725): an independent NumPy transcription of its TensorFlow functions, written from
the reference's files (cited per function), not from AIST's code, compared with AIST's
PyTorch projection and losses on random clouds and poses.

The reference's camera frame differs from the product's by a fixed rotation: it takes depth
from the rotated cloud's x, the image's horizontal from z and vertical from y, then flips the
rows (``tf.reverse(proj, [1])``). In OpenCV axes (x right, y down, z forward) that is
``x_cv = z_dpc, y_cv = -y_dpc, z_cv = x_dpc``: AIST's rotation is ``P R_dpc``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

P_DPC_TO_CV = np.array([[0.0, 0, 1], [0, -1, 0], [1, 0, 0]])


# -- dpc/util/quaternion.py -----------------------------------------------------------------------
def ref_q_mul(a, b):  # quaternion_multiply
    w1, x1, y1, z1 = np.moveaxis(a, -1, 0)
    w2, x2, y2, z2 = np.moveaxis(b, -1, 0)
    w = w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2
    x = w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2
    y = w1 * y2 + y1 * w2 + z1 * x2 - x1 * z2
    z = w1 * z2 + z1 * w2 + x1 * y2 - y1 * x2
    return np.stack((w, x, y, z), axis=-1)


def ref_q_conj(q):  # quaternion_conjugate
    return q * np.array([1.0, -1.0, -1.0, -1.0])


def ref_q_norm(q):  # quaternion_normalise
    return q / np.linalg.norm(q, axis=-1, keepdims=True)


def ref_q_rotate(pc, q):  # quaternion_rotate: q * pc * q'
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    q = q[:, None, :]
    pcq = np.concatenate([np.zeros(pc.shape[:-1] + (1,)), pc], -1)
    return ref_q_mul(ref_q_mul(q, pcq), ref_q_conj(q))[..., 1:4]


def ref_as_rotation_matrix(q):  # as_rotation_matrix
    w, x, y, z = ref_q_norm(q)
    return np.array([
        [1 - 2 * y * y - 2 * z * z, 2 * x * y - 2 * z * w, 2 * x * z + 2 * y * w],
        [2 * x * y + 2 * z * w, 1 - 2 * x * x - 2 * z * z, 2 * y * z - 2 * x * w],
        [2 * x * z - 2 * y * w, 2 * y * z + 2 * x * w, 1 - 2 * x * x - 2 * y * y]])


# -- dpc/util/point_cloud.py ----------------------------------------------------------------------
def ref_pc_perspective_transform(pc, q, focal_length=1.875, camera_distance=2.0):
    pc2 = ref_q_rotate(pc, q)
    xs, ys, zs = pc2[..., 2:3].copy(), pc2[..., 1:2].copy(), pc2[..., 0:1].copy()
    zs += camera_distance
    xs *= focal_length
    ys *= focal_length
    xs /= zs
    ys /= zs
    zs -= camera_distance
    return np.concatenate([zs, ys, xs], axis=2)


def ref_pointcloud2voxels3d_fast(pc, vox_size, rgb=None):
    """The voxel sums, and with ``rgb`` (B, N, 3) the colour sums: ``updates_raw * rgb``
    scattered to the same corners."""
    batch_size, num_points = pc.shape[:2]
    half_size = 0.5  # grid_size = 1.0
    valid = np.all((pc >= -half_size) & (pc <= half_size), axis=-1).reshape(-1)
    pc_grid = (pc + half_size) * (vox_size - 1)
    indices_floor = np.floor(pc_grid)
    indices_int = indices_floor.astype(np.int64)
    batch_indices = np.repeat(np.arange(batch_size), num_points).reshape(-1, 1)
    indices = np.concatenate([batch_indices, indices_int.reshape(-1, 3)], axis=1)[valid]
    r = pc_grid - indices_floor
    rr = [1.0 - r, r]
    voxels = np.zeros((batch_size, vox_size, vox_size, vox_size))
    voxels_rgb = np.zeros(voxels.shape + (3,))
    for k in range(2):
        for j in range(2):
            for i in range(2):
                pos = [k, j, i]
                updates_raw = rr[pos[0]][:, :, 0] * rr[pos[1]][:, :, 1] * rr[pos[2]][:, :, 2]
                updates = updates_raw.reshape(-1)[valid]
                loc = indices + np.array([0] + pos)
                ok = np.all(loc[:, 1:] < vox_size, axis=1)  # only weight-0 corners are out
                assert np.all(updates[~ok] == 0)
                np.add.at(voxels, tuple(loc[ok].T), updates[ok])  # scatter_nd sums
                if rgb is not None:
                    updates_rgb = (updates_raw[..., None] * rgb).reshape(-1, 3)[valid]
                    np.add.at(voxels_rgb, tuple(loc[ok].T), updates_rgb[ok])
    return voxels if rgb is None else (voxels, voxels_rgb)


# -- dpc/util/gauss_kernel.py + smoothen_voxels3d -------------------------------------------------
def ref_gauss_kernel_1d(size, sig):  # the reference's l
    xx = np.arange(-size // 2 + 1.0, size // 2 + 1.0)
    kernel = np.exp(-xx ** 2 / (2.0 * sig ** 2))
    return kernel / kernel.sum()


def ref_conv_same_1d(vox, kernel, axis):
    """tf.nn.conv3d with a 1-D kernel along ``axis``, stride 1, "SAME" (cross-correlation,
    zero padding, pad_before = (k - 1) // 2)."""
    k = len(kernel)
    before = (k - 1) // 2
    pad = [(0, 0)] * vox.ndim
    pad[axis] = (before, k - 1 - before)
    x = np.pad(vox, pad)
    n = vox.shape[axis]
    out = np.zeros_like(vox)
    for t in range(k):
        out += kernel[t] * np.take(x, np.arange(t, t + n), axis=axis)
    return out


def ref_smoothen(vox, fsz, sigma):  # separable_kernels: k1 (W), k2 (H), k3 (D)
    kernel = ref_gauss_kernel_1d(fsz, sigma)
    for axis in (3, 2, 1):
        vox = ref_conv_same_1d(vox, kernel, axis)
    return vox


# -- dpc/util/drc.py ------------------------------------------------------------------------------
def ref_drc_projection(voxels, clip_val=1e-5):
    x_in = np.clip(np.transpose(voxels, (1, 0, 2, 3)), clip_val, 1.0 - clip_val)
    y = np.log(x_in)
    x = np.log(1.0 - x_in)
    r = np.cumsum(x, axis=0)
    unity = np.ones((1,) + x_in.shape[1:]) * clip_val  # log_unity
    p1 = np.concatenate([unity, r], axis=0)
    p2 = np.concatenate([y, unity], axis=0)
    p = np.exp(p1 + p2)
    c = np.concatenate([np.ones_like(x_in), np.zeros_like(unity)], axis=0)
    return (p * c).sum(0), p


def ref_pointcloud_project_fast(pc, q, vox_size, fsz, sigma, scaling_factor,
                                focal_length=1.875):
    tr_pc = ref_pc_perspective_transform(pc, q, focal_length)
    voxels = np.clip(ref_pointcloud2voxels3d_fast(tr_pc, vox_size), 0.0, 1.0)
    voxels = ref_smoothen(voxels, fsz, sigma)
    voxels = np.clip(voxels * scaling_factor.reshape(-1, 1, 1, 1), 0.0, 1.0)
    proj, _ = ref_drc_projection(voxels)
    return proj[:, ::-1, :]  # tf.reverse(proj, [1])


def ref_project_rgb(pc, q, rgb, vox_size, fsz, sigma, scaling_factor, focal_length=1.875,
                    divide_eps=None, clip_after_conv=False):
    """``pointcloud_project_fast`` with ``all_rgb`` and the default pc_rgb settings (clip
    before ``convolve_rgb``; with ``divide_eps`` the ``pc_rgb_divide_by_occupancies`` branch:
    divided by the smoothed raw voxels plus that epsilon), then
    ``project_volume_rgb_integral`` (white for the escape); rows reversed as the proj."""
    tr_pc = ref_pc_perspective_transform(pc, q, focal_length)
    voxels, voxels_rgb = ref_pointcloud2voxels3d_fast(tr_pc, vox_size, rgb)
    voxels_raw = voxels
    voxels = ref_smoothen(np.clip(voxels, 0.0, 1.0), fsz, sigma)
    if not clip_after_conv:
        voxels_rgb = np.clip(voxels_rgb, 0.0, 1.0)
    voxels_rgb = np.stack([ref_smoothen(voxels_rgb[..., c], fsz, sigma) for c in range(3)],
                          -1)
    voxels = np.clip(voxels * scaling_factor.reshape(-1, 1, 1, 1), 0.0, 1.0)
    if divide_eps is not None:
        voxels_rgb = voxels_rgb / (ref_smoothen(voxels_raw, fsz, sigma)[..., None]
                                   + divide_eps)
    if clip_after_conv:
        voxels_rgb = np.clip(voxels_rgb, 0.0, 1.0)
    _, p = ref_drc_projection(voxels)  # (D + 1, B, H, W)
    rgb_full = np.concatenate([np.transpose(voxels_rgb, (1, 0, 2, 3, 4)),
                               np.ones((1,) + voxels_rgb.shape[:1] + voxels_rgb.shape[2:])])
    out = (p[..., None] * rgb_full).sum(0)  # (B, H, W, 3)
    return out[:, ::-1]


# -- dpc/models/model_pc.py ------------------------------------------------------------------------
def ref_proj_loss_pose_candidates(gt, pred, num_candidates):
    gt = np.repeat(gt, num_candidates, axis=0)  # tf_repeat_0
    all_loss = ((gt - pred) ** 2).sum(axis=(1, 2)).reshape(-1, num_candidates)
    min_loss = all_loss.argmin(axis=1)
    mask = np.eye(num_candidates)[min_loss].reshape(-1, 1, 1)
    proj_loss = 0.5 * np.sum(((gt - pred) * mask) ** 2)  # tf.nn.l2_loss
    return proj_loss / len(min_loss), min_loss


def ref_student_loss(student, poses, min_loss, num_candidates, weight):
    teachers = poses.reshape(-1, num_candidates, 4)[np.arange(len(min_loss)), min_loss]
    q_diff = ref_q_norm(ref_q_mul(teachers, ref_q_conj(student)))
    return weight * np.sum(1.0 - q_diff[:, 0] ** 2) / len(min_loss)


def ref_regularization_loss(weights, weight_decay):
    return weight_decay * sum(0.5 * np.sum(w ** 2) for w in weights)


# -- the tests ------------------------------------------------------------------------------------
def _cv_quaternion(q_dpc: np.ndarray) -> np.ndarray:
    from aist_app.scene.cameras import quaternion_from_matrix

    return np.stack([quaternion_from_matrix(P_DPC_TO_CV @ ref_as_rotation_matrix(q))
                     for q in q_dpc])


def _random_case(seed: int, m: int = 3, n: int = 3000):
    rng = np.random.default_rng(seed)
    pc = np.tanh(rng.normal(size=(m, n, 3))) / 2.0 * 0.9  # the decoder's range
    q = ref_q_norm(rng.normal(size=(m, 4)))
    scale = rng.uniform(0.3, 1.0, size=m)
    return pc, q, scale


@pytest.mark.parametrize("seed,vox,fsz,sigma,focal", [
    (0, 32, 21, 3.0, 1.875), (1, 32, 11, 0.2, 1.875), (2, 24, 9, 1.3, 0.9375),
    (3, 16, 10, 1.0, 1.875)])
def test_projection_matches_the_reference(seed, vox, fsz, sigma, focal):
    from aist_plugins.dpc.projection import project

    pc, q, scale = _random_case(seed)
    ref = ref_pointcloud_project_fast(pc, q, vox, fsz, sigma, scale, focal)
    ours = project(torch.from_numpy(pc), torch.from_numpy(_cv_quaternion(q)), size=vox,
                   sigma=sigma, kernel_size=fsz, scale=torch.from_numpy(scale),
                   focal_length=focal)["silhouette"].numpy()
    assert ref.max() > 0.5 and ref.min() < 0.05  # the clouds are in view, not all of it
    assert np.abs(ours - ref).max() <= 1e-5


@pytest.mark.parametrize("divide_eps, clip_after", [(None, False), (0.01, False), (0.01, True)])
def test_coloured_projection_matches_the_reference(divide_eps, clip_after):
    """pc_rgb: the colour image of ``pointcloud_project_fast`` + ``convolve_rgb`` +
    ``project_volume_rgb_integral``, without and with ``pc_rgb_divide_by_occupancies`` and
    ``pc_rgb_clip_after_conv``."""
    from aist_plugins.dpc.projection import project

    pc, q, scale = _random_case(5, n=1500)
    rgb = np.random.default_rng(6).uniform(size=pc.shape)
    ref = ref_project_rgb(pc, q, rgb, 24, 9, 1.3, scale, divide_eps=divide_eps,
                          clip_after_conv=clip_after)
    ours = project(torch.from_numpy(pc), torch.from_numpy(_cv_quaternion(q)), size=24,
                   sigma=1.3, kernel_size=9, scale=torch.from_numpy(scale),
                   rgb=torch.from_numpy(rgb), rgb_divide_eps=divide_eps,
                   rgb_clip_after_conv=clip_after)["rgb"]
    ours = ours.permute(0, 2, 3, 1).numpy()
    assert ref.min() < 0.5 and ref.max() > 0.99  # coloured object on white
    assert np.abs(ours - ref).max() <= 1e-5


def test_drc_and_smoothing_match_the_reference():
    from aist_plugins.dpc.projection import drc, smooth

    rng = np.random.default_rng(4)
    vox = rng.uniform(0, 1, size=(2, 12, 12, 12)) ** 4
    # Our rows (axis 2) run downwards, the reference's upwards until its final flip.
    ref = ref_smoothen(vox[:, :, ::-1], 10, 1.7)[:, :, ::-1]
    assert np.abs(smooth(torch.from_numpy(vox), 1.7, 10).numpy() - ref).max() <= 1e-9
    ref_sil, ref_p = ref_drc_projection(vox)
    p, sil = drc(torch.from_numpy(vox))
    assert np.abs(sil.numpy() - ref_sil).max() <= 1e-9
    assert np.abs(p.numpy() - np.transpose(ref_p, (1, 0, 2, 3))).max() <= 1e-9


def test_projection_loss_and_student_loss_match_the_reference():
    """``proj_loss_pose_candidates`` and ``add_student_loss`` on one object-view layout:
    B objects x V views x K candidates, the shape from view 0 of each object."""
    from aist_plugins.dpc.config import PoseConfig
    from aist_plugins.dpc.loss import dpc_loss

    b, v, k, n, g = 2, 3, 4, 500, 16
    rng = np.random.default_rng(5)
    pts = np.tanh(rng.normal(size=(b, n, 3))) / 2.0 * 0.9
    cand_dpc = ref_q_norm(rng.normal(size=(b * v * k, 4)))
    student_dpc = ref_q_norm(rng.normal(size=(b * v, 4)))
    scale = rng.uniform(0.5, 1.0, size=b)
    masks = (rng.uniform(size=(b * v, g, g)) > 0.6).astype(np.float64)
    cfg = PoseConfig(vox_size=g, kernel_size=5, sigma_start=1.0, sigma_end=1.0,
                     dropout_keep_start=1.0, ensemble=k, views_per_object=v)
    # Reference: all_points = tf_repeat_0(tf_repeat_0(pc, step_size), num_candidates)
    all_pts = np.repeat(np.repeat(pts, v, axis=0), k, axis=0)
    all_scale = np.repeat(np.repeat(scale, v), k)
    pred = ref_pointcloud_project_fast(all_pts, cand_dpc, g, 5, 1.0, all_scale)
    ref_proj, min_loss = ref_proj_loss_pose_candidates(masks, pred, k)
    # The student compares quaternions, whose frame does not matter: use the DPC ones.
    ref_stud = ref_student_loss(student_dpc, cand_dpc, min_loss, k, 1.0)

    # The student's term is frame-free (the camera-side rotation P cancels in
    # q_t conj(q_s)), so the product-frame quaternions must give the reference's number.
    out = {"points": torch.from_numpy(pts), "scale": torch.from_numpy(scale),
           "candidates": torch.from_numpy(_cv_quaternion(cand_dpc)).view(b * v, k, 4),
           "student": torch.from_numpy(_cv_quaternion(student_dpc))}
    ours = dpc_loss(out, torch.from_numpy(masks).view(b, v, g, g), cfg, 0,
                    torch.Generator().manual_seed(0))
    assert float(ours["projection"]) == pytest.approx(ref_proj, rel=1e-6, abs=1e-6)
    assert float(ours["student"]) == pytest.approx(ref_stud, abs=1e-9)
    # 20 x the student term plus the projection loss (proj_weight 1, student weight 20).
    assert float(ours["total"]) == pytest.approx(ref_proj + 20 * ref_stud, rel=1e-6)


def test_student_loss_is_frame_free_and_matches_the_reference():
    from aist_app.pose.quaternion import student_loss

    rng = np.random.default_rng(6)
    t, s = ref_q_norm(rng.normal(size=(50, 4))), ref_q_norm(rng.normal(size=(50, 4)))
    ref = ref_student_loss(s, t, np.zeros(50, dtype=int), 1, 20.0)
    ours = 20.0 * float(student_loss(torch.from_numpy(s), torch.from_numpy(t)).sum()) / 50
    assert ours == pytest.approx(ref, abs=1e-12)
    # The same pair of rotations expressed in the product's camera frame gives the same loss.
    ours_cv = student_loss(torch.from_numpy(_cv_quaternion(s)), torch.from_numpy(
        _cv_quaternion(t))).sum()
    assert 20.0 * float(ours_cv) / 50 == pytest.approx(ref, abs=1e-9)


def ref_decayed_kernels(cfg) -> list[tuple[int, ...]]:
    """The shapes (TF layout) of the variables the reference's ``regularization_loss``
    decays: trainable variables under the scopes ``encoder`` and ``decoder`` whose names hold
    ``weights`` or ``kernel`` (``util/losses.py``), i.e. every slim conv/fully-connected
    kernel of ``nets/img_encoder.py``, ``nets/pc_decoder.py``, ``predict_scaling_factor``
    and ``nets/pose_net.py`` (built inside ``decoder``), never their biases."""
    f = cfg.f_dim
    shapes = [(5, 5, 3, f)]
    for _ in range(int(np.log2(cfg.image_size / 4) - 1)):
        shapes += [(3, 3, f, 2 * f), (3, 3, 2 * f, 2 * f)]
        f *= 2
    shapes += [(4 * 4 * f, cfg.fc_dim), (cfg.fc_dim, cfg.fc_dim), (cfg.fc_dim, cfg.z_dim),
               (cfg.fc_dim, cfg.z_dim)]  # fc1, fc2, fc3 ("ids"), "poses"
    decoded = cfg.num_points // 2 if cfg.mirror_symmetry else cfg.num_points
    shapes += [(cfg.z_dim, decoded * 3), (cfg.z_dim, 1)]  # points, occupancy scaling
    if cfg.pc_rgb:
        shapes.append((cfg.z_dim, decoded * 3))
    for _ in range(cfg.ensemble + 1):  # the candidates' pose_branch, then the student's
        shapes += [(cfg.z_dim, cfg.pose_hidden), (cfg.pose_hidden, cfg.pose_hidden),
                   (cfg.pose_hidden, 4)]
    return shapes


def _tf_layout(w) -> tuple[int, ...]:
    shape = tuple(w.shape)
    return (*shape[2:], shape[1], shape[0]) if len(shape) == 4 else (shape[1], shape[0])


@pytest.mark.parametrize("extra", [{}, {"pc_rgb": True}, {"mirror_symmetry": True},
                                   {"shapes_per_object": 3, "views_per_object": 4}])
def test_weight_decay_matches_the_reference(extra):
    """On weights as after training (biases far from their zero init): our loss decays
    exactly the reference's list of variables."""
    from torch import nn

    from aist_plugins.dpc.config import PoseConfig
    from aist_plugins.dpc.model import dpc_model, weight_decay_loss

    cfg = PoseConfig(image_size=32, f_dim=4, fc_dim=16, z_dim=16, num_points=50, **extra)
    model = dpc_model(config=cfg)
    layers = [m for m in model.modules() if isinstance(m, nn.Linear | nn.Conv2d)]
    assert sorted(_tf_layout(m.weight) for m in layers) == sorted(ref_decayed_kernels(cfg))
    # Every parameter is a layer's kernel or bias: nothing else could be decayed or missed.
    owned = {id(p) for m in layers for p in m.parameters()}
    assert all(id(p) in owned for p in model.parameters())
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=gen) * 0.3)
    kernels = [m.weight.detach().double().numpy() for m in layers]
    assert float(1e-3 * weight_decay_loss(model).detach()) == pytest.approx(
        ref_regularization_loss(kernels, 1e-3), rel=1e-6)
