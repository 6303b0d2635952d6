"""A ``dpc`` run loaded for prediction: the core evaluator's
:class:`~aist_app.api.contracts.PosePredictor` (batched predictions of a test set, one
image's prediction, and render-and-compare refinement of it)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from aist_app.api.contracts import PosePredictor
from aist_app.common.checkpoints import recorded_path
from aist_app.common.devices import resolve_device
from aist_app.pose.data import PoseData, images_and_masks
from aist_app.pose.evaluate import Prediction
from aist_plugins.dpc.config import PoseConfig
from aist_plugins.dpc.projection import project
from aist_plugins.dpc.train import load_model, load_selected


class DPCPredictor(PosePredictor):
    def __init__(self, run: str | Path | None, *, device: str = "auto", batch: int = 32,
                 model: torch.nn.Module | None = None, config: PoseConfig | None = None
                 ) -> None:
        """A run's checkpoint (its last, or its best on validation when its config selects
        ``best-val``), or (``run`` None) a ``model`` in memory with its
        ``config`` (the trainer's periodic evaluation)."""
        self.device = torch.device(resolve_device(device))
        if run is None:
            if model is None or config is None:
                raise ValueError("DPCPredictor: give a run, or a model and its config")
            self.ck, self.config, self.model = {}, config, model
        else:
            self.ck = load_selected(run)
            self.config = PoseConfig.from_dict(self.ck["config"])
            self.model = load_model(self.ck, self.device)
        self.batch = batch
        self.camera_distance = self.config.camera_distance
        self.focal_length = self.config.focal_length

    @property
    def checkpoint(self) -> Path:
        return Path(self.ck["path"])

    @property
    def run_dir(self) -> Path:
        return self.checkpoint.parent.parent

    @property
    def step(self) -> int:
        return int(self.ck["step"])

    @property
    def training_set(self) -> Path:
        return Path(recorded_path(self.ck, self.ck["dataset"]))

    @torch.no_grad()
    def predict(self, data: PoseData, *, render: bool = False, limit: int | None = None,
                views: list[tuple[str, str]] | None = None) -> list[Prediction]:
        """Every view of the first ``limit`` objects, or just ``views`` (object, file), in
        that order; batches span objects (a real set has one view per object)."""
        c = self.config
        focal = data.focal_length() or c.focal_length
        if views is None:
            views = [(oid, f) for oid in data.ids[:limit] for f in data.views[oid]]
        preds: list[Prediction] = []
        for i in range(0, len(views), self.batch):
            chunk = views[i:i + self.batch]
            runs: dict[str, list[str]] = {}  # the chunk's files by object, in order
            for oid, f in chunk:
                runs.setdefault(oid, []).append(f)
            rgba = torch.cat([data.load(oid, files) for oid, files in runs.items()])
            order = [(oid, f) for oid, files in runs.items() for f in files]
            images, masks = images_and_masks(rgba, c.image_size, c.vox_size)
            out = self.model(images.to(self.device))
            sil = None
            if render:
                sil = project(out["points"], out["student"], size=c.vox_size,
                              sigma=c.sigma_end, kernel_size=c.kernel_size,
                              scale=out["scale"], focal_length=focal,
                              distance=c.camera_distance)["silhouette"].cpu().numpy()
            at = {key: j for j, key in enumerate(order)}
            for key in chunk:
                j = at[key]
                preds.append(Prediction(
                    key[0], key[1], out["points"][j].float().cpu().numpy(),
                    out["student"][j].float().cpu().numpy(), masks[j].numpy() > 0.5,
                    None if sil is None else sil[j],
                    out["rgb"][j].float().cpu().numpy() if "rgb" in out else None))
        return preds

    def view_input(self, rgba: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """One (H, W, 4) view as the run's encoder image and mask."""
        c = self.config
        return images_and_masks(torch.from_numpy(np.array(rgba)).permute(2, 0, 1)[None],
                                c.image_size, c.vox_size)

    @torch.no_grad()
    def predict_view(self, rgba: np.ndarray) -> dict:
        """Points (N, 3) and quaternion (4,) predicted from one (H, W, 4) view, model frame."""
        x, _ = self.view_input(rgba)
        pred = self.model(x.to(self.device))
        return {"points": pred["points"][0].double().cpu().numpy(),
                "quaternion": pred["student"][0].double().cpu().numpy()}

    def refiner(self, align: np.ndarray, config=None):
        """A render-and-compare refiner of this run (:mod:`aist_plugins.dpc.refine`)."""
        from aist_plugins.dpc.refine import refine_config, run_refiner

        return run_refiner(self, align, refine_config(config))

    def refine_view(self, rgba: np.ndarray, refiner) -> dict:
        """:meth:`predict_view` refined against the view's alpha by ``refiner``, with the
        objective before and after."""
        x, mask = self.view_input(rgba)
        res = refiner.refine(x, mask)
        return {"points": res.points[0].double().cpu().numpy(),
                "quaternion": res.quaternion[0].double().cpu().numpy(),
                "refine_loss": np.float32(res.loss[0]),
                "refine_loss_start": np.float32(res.loss_start[0])}
