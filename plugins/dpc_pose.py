"""``dpc``: unsupervised shape and pose from silhouettes (differentiable point clouds), and
``refine``: render-and-compare refinement of a ``dpc`` run at test time.

Training and evaluation live in :mod:`aist_app.pose`; this module is the stages'
:class:`~aist_app.stages.contracts.PoseModel` interface and imports no torch at module level.
"""

from __future__ import annotations

from aist_app import hookimpl


def _pose_config() -> type:
    from aist_app.pose.config import PoseConfig

    return PoseConfig


class DPCPoseModel:
    """Insafutdinov & Dosovitskiy 2018 in PyTorch: 8000-point clouds, pose ensemble + student."""

    name = "dpc"
    description = ("Differentiable point clouds (Insafutdinov & Dosovitskiy 2018): 8000-point "
                   "shape, pose ensemble of 4 + student, trained from silhouettes alone")
    needs_gpu = False  # runs on the CPU (slowly); full-scale training wants a GPU
    progress_keys = ("projection", "student", "sigma")
    config_class = staticmethod(_pose_config)

    @staticmethod
    def trainer(config, dataset, run_dir, *, resume: bool = False, overwrite: bool = False):
        from aist_app.pose.train import PoseTrainer

        return PoseTrainer(config, dataset, run_dir, resume=resume, overwrite=overwrite)

    @staticmethod
    def resume(run, *, steps: int | None = None, device: str = "auto"):
        from aist_app.common.checkpoints import recorded_path
        from aist_app.pose.config import PoseConfig
        from aist_app.pose.train import PoseTrainer, load_checkpoint

        ck = load_checkpoint(run)
        config = PoseConfig.from_dict(ck["config"])
        if steps:
            config.steps = steps
        config.device = device  # this machine's, not the checkpoint's
        return PoseTrainer(config, recorded_path(ck, ck["dataset"]), run, resume=True)

    @staticmethod
    def evaluate(run, test_sets, out, *, device: str = "auto", model_name: str | None = None,
                 split: str = "test", overwrite: bool = False, refine=None,
                 refine_sets=None, progress=None):
        from aist_app.pose.evaluate import evaluate

        return evaluate(run, test_sets, out, device=device, model_name=model_name,
                        split=split, overwrite=overwrite, refine=refine,
                        refine_sets=refine_sets, progress=progress)

    @staticmethod
    def reconstruct(run, image, out, *, device: str = "auto", refine=None, progress=None):
        from aist_app.pose.reconstruct import reconstruct

        return reconstruct(run, image, out, device=device, refine=refine)


class RefinePoseModel:
    """Render-and-compare refinement of a trained ``dpc`` run at test time."""

    name = "refine"
    description = ("Render-and-compare refinement (RenderNet supplementary): fits a dpc run's "
                   "shape latent and pose to each input's silhouette under the run's shape "
                   "prior, from its prediction and an azimuth x elevation grid of restarts; "
                   "needs no training")
    needs_gpu = False
    progress_keys = ()
    config_class = staticmethod(_pose_config)

    @staticmethod
    def trainer(config, dataset, run_dir, *, resume: bool = False, overwrite: bool = False):
        raise ValueError("refine needs no training: train a dpc run, then evaluate it with "
                         "`aist evaluate RUN SETS --model refine` (or --refine)")

    @staticmethod
    def resume(run, *, steps: int | None = None, device: str = "auto"):
        return RefinePoseModel.trainer(None, None, run)

    @staticmethod
    def evaluate(run, test_sets, out, *, device: str = "auto", model_name: str | None = None,
                 split: str = "test", overwrite: bool = False, refine=None,
                 refine_sets=None, progress=None):
        from aist_app.pose.evaluate import evaluate
        from aist_app.pose.refine import RefineConfig

        return evaluate(run, test_sets, out, device=device, model_name=model_name or "refine",
                        split=split, overwrite=overwrite, refine=refine or RefineConfig(),
                        refine_sets=refine_sets, progress=progress)

    @staticmethod
    def reconstruct(run, image, out, *, device: str = "auto", refine=None, progress=None):
        from aist_app.pose.reconstruct import reconstruct
        from aist_app.pose.refine import RefineConfig

        return reconstruct(run, image, out, device=device, refine=refine or RefineConfig())


@hookimpl
def aist_register_stages(registry) -> None:
    registry.add_pose_model(DPCPoseModel)
    registry.add_pose_model(RefinePoseModel)
