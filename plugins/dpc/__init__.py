"""``dpc``: unsupervised shape and pose from silhouettes (differentiable point clouds), and
``refine``: render-and-compare refinement of a ``dpc`` run at test time.

Everything model-specific lives in this package (config, model, loss, projection, training,
prediction, refinement); the core's evaluator (:mod:`aist_app.pose.evaluate`) scores any pose
model's predictions. This module is the stages'
:class:`~aist_app.api.contracts.PoseModel` interface and imports no torch at module level.
"""

from __future__ import annotations

from aist_app import hookimpl
from aist_app.api.contracts import PoseModel


def _pose_config() -> type:
    from aist_plugins.dpc.config import PoseConfig

    return PoseConfig


def _refine_variant(predictor, refine, refine_sets):
    """Test-time refinement of ``predictor``'s run as an evaluation variant
    (``<set>+refine``)."""
    from aist_app.pose.evaluate import Variant
    from aist_plugins.dpc.refine import refine_config

    refine = refine_config(refine)

    def prepare(align):
        from aist_plugins.dpc.refine import refine_predictions

        refiner = predictor.refiner(align, refine)

        def again(data, preds, progress):
            refiner.focal = data.focal_length() or predictor.focal_length
            return refine_predictions(refiner, data, preds, progress=progress)
        return again

    return Variant("+refine", {"refine": refine.as_dict(), "refine_sets": refine_sets},
                   refine_sets, prepare)


def _evaluate(run, test_sets, out, *, device, model_name, split, overwrite, refine,
              refine_sets, progress, plugin: str = "dpc"):
    from aist_app.pose.evaluate import evaluate
    from aist_plugins.dpc.predictor import DPCPredictor

    predictor = DPCPredictor(run, device=device)
    variant = None
    if refine is not None:
        variant = _refine_variant(predictor, refine, refine_sets)
    return evaluate(predictor, test_sets, out, plugin=plugin, model_name=model_name,
                    split=split, overwrite=overwrite, variant=variant, progress=progress)


class DPCPoseModel(PoseModel):
    """Insafutdinov & Dosovitskiy 2018 in PyTorch: 8000-point clouds, pose ensemble + student."""

    name = "dpc"
    default = True  # the stage used when none is named
    description = ("Differentiable point clouds (Insafutdinov & Dosovitskiy 2018): 8000-point "
                   "shape, pose ensemble of 4 + student, trained from silhouettes alone")
    needs_gpu = False  # runs on the CPU (slowly); full-scale training wants a GPU
    progress_keys = ("projection", "student", "sigma")
    config_class = staticmethod(_pose_config)

    @staticmethod
    def trainer(config, dataset, run_dir, *, resume: bool = False, overwrite: bool = False):
        from aist_plugins.dpc.train import PoseTrainer

        return PoseTrainer(config, dataset, run_dir, resume=resume, overwrite=overwrite)

    @staticmethod
    def resume(run, *, steps: int | None = None, device: str = "auto"):
        from aist_app.common.checkpoints import recorded_path
        from aist_plugins.dpc.config import PoseConfig
        from aist_plugins.dpc.train import PoseTrainer, load_checkpoint

        ck = load_checkpoint(run)
        config = PoseConfig.from_dict(ck["config"])
        if steps:
            config.steps = steps
        config.device = device  # this machine's, not the checkpoint's
        return PoseTrainer(config, recorded_path(ck, ck["dataset"]), run, resume=True)

    @staticmethod
    def predictor(run, *, device: str = "auto"):
        from aist_plugins.dpc.predictor import DPCPredictor

        return DPCPredictor(run, device=device)

    @staticmethod
    def evaluate(run, test_sets, out, *, device: str = "auto", model_name: str | None = None,
                 split: str = "test", overwrite: bool = False, refine=None,
                 refine_sets=None, progress=None):
        return _evaluate(run, test_sets, out, device=device, model_name=model_name,
                         split=split, overwrite=overwrite, refine=refine,
                         refine_sets=refine_sets, progress=progress)

    @staticmethod
    def reconstruct(run, image, out, *, device: str = "auto", refine=None, progress=None):
        from aist_app.pose.reconstruct import reconstruct

        return reconstruct(DPCPoseModel.predictor(run, device=device), image, out,
                           refine=refine)

    @staticmethod
    def plan(settings: dict, steps: int):
        """The memory and time of training with these settings (``aist experiment
        --dry-run``)."""
        from aist_plugins.dpc.plan import plan_training

        return plan_training(settings, steps)


class RefinePoseModel(PoseModel):
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

    predictor = staticmethod(DPCPoseModel.predictor)

    @staticmethod
    def evaluate(run, test_sets, out, *, device: str = "auto", model_name: str | None = None,
                 split: str = "test", overwrite: bool = False, refine=None,
                 refine_sets=None, progress=None):
        from aist_plugins.dpc.refine import RefineConfig

        return _evaluate(run, test_sets, out, device=device,
                         model_name=model_name or "refine", split=split, overwrite=overwrite,
                         refine=refine or RefineConfig(), refine_sets=refine_sets,
                         progress=progress)

    @staticmethod
    def reconstruct(run, image, out, *, device: str = "auto", refine=None, progress=None):
        from aist_plugins.dpc.refine import RefineConfig

        return DPCPoseModel.reconstruct(run, image, out, device=device,
                                        refine=refine or RefineConfig())


@hookimpl
def aist_register_stages(registry) -> None:
    registry.add_pose_model(DPCPoseModel)
    registry.add_pose_model(RefinePoseModel)
