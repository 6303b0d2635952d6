"""``dpc``: unsupervised shape and pose from silhouettes (differentiable point clouds).

Training and evaluation live in :mod:`aist_app.pose`; this module registers the stage and
imports no torch at module level.
"""

from __future__ import annotations

from aist_app import hookimpl


class DPCPoseModel:
    """Insafutdinov & Dosovitskiy 2018 in PyTorch: 8000-point clouds, pose ensemble + student."""

    name = "dpc"
    description = ("Differentiable point clouds (Insafutdinov & Dosovitskiy 2018): 8000-point "
                   "shape, pose ensemble of 4 + student, trained from silhouettes alone")
    needs_gpu = False  # runs on the CPU (slowly); full-scale training wants a GPU

    @staticmethod
    def trainer(config, dataset, run_dir, *, resume: bool = False, overwrite: bool = False):
        from aist_app.pose.train import PoseTrainer

        return PoseTrainer(config, dataset, run_dir, resume=resume, overwrite=overwrite)

    @staticmethod
    def evaluate(run, test_sets, out, *, device: str = "auto", model_name: str | None = None,
                 split: str = "test", overwrite: bool = False, refine=None,
                 refine_sets=None, progress=None):
        from aist_app.pose.evaluate import evaluate

        return evaluate(run, test_sets, out, device=device, model_name=model_name,
                        split=split, overwrite=overwrite, refine=refine,
                        refine_sets=refine_sets, progress=progress)


class RefinePoseModel:
    """Render-and-compare refinement of a trained ``dpc`` run at test time."""

    name = "refine"
    description = ("Render-and-compare refinement (RenderNet supplementary): fits a dpc run's "
                   "shape latent and pose to each input's silhouette under the run's shape "
                   "prior, from its prediction and an azimuth x elevation grid of restarts; "
                   "needs no training")
    needs_gpu = False

    @staticmethod
    def trainer(config, dataset, run_dir, *, resume: bool = False, overwrite: bool = False):
        raise ValueError("refine needs no training: train a dpc run, then evaluate it with "
                         "`aist evaluate RUN SETS --model refine` (or --refine)")

    @staticmethod
    def evaluate(run, test_sets, out, *, device: str = "auto", model_name: str | None = None,
                 split: str = "test", overwrite: bool = False, refine=None,
                 refine_sets=None, progress=None):
        from aist_app.pose.evaluate import evaluate
        from aist_app.pose.refine import RefineConfig

        return evaluate(run, test_sets, out, device=device, model_name=model_name or "refine",
                        split=split, overwrite=overwrite, refine=refine or RefineConfig(),
                        refine_sets=refine_sets, progress=progress)


@hookimpl
def aist_register_stages(registry) -> None:
    registry.add_pose_model(DPCPoseModel)
    registry.add_pose_model(RefinePoseModel)
