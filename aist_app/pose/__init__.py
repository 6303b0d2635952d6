"""Pose evaluation for any pose model (SPEC §4): test data, the evaluator over a model's
:class:`~aist_app.api.contracts.PosePredictor` (the reference's alignment, Chamfer, pose
errors, XOR, chance baselines), intervals, one image's reconstruction. The built-in model
(differentiable point clouds) lives in :mod:`aist_plugins.dpc`."""
