"""Training the AIST CycleGAN, resumable to the bit on the CPU.

:class:`Trainer` holds every piece of state (networks, optimizers, schedulers, history pools,
RNG, step, loss history); :meth:`Trainer.run` is a generator yielding :class:`TrainProgress`
after each step, so the CLI, the GUI and the Blender add-on drive the same code. Checkpoints
(``RUN/checkpoints/last.pt``) are written atomically and load with ``weights_only=True``.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Generator
from itertools import chain
from pathlib import Path

import numpy as np
import torch

from aist_app.api.contracts import Trainer as TrainerContract
from aist_app.api.progress import TrainProgress
from aist_app.api.training import Every, training_loop
from aist_app.common.checkpoints import restore_rng, rng_state
from aist_app.common.devices import (
    amp_dtype,
    autocast,
    cpu_kernels,
    grad_scaler,
    memory_format,
    resolve_device,
    to_device,
)
from aist_app.common.io_utils import atomic_write_bytes, atomic_write_json, atomic_write_jsonl
from aist_app.common.outputs import OutputRecord, content_config, run_folder
from aist_app.dataset.contract import dataset_identity
from aist_app.stylize.data import ViewSet, random_flip, to_input
from aist_app.stylize.metrics import kid, mask_iou, pooled_features
from aist_plugins.cyclegan import checkpoint as ckpt_io
from aist_plugins.cyclegan.config import StylizerConfig
from aist_plugins.cyclegan.losses import alpha_loss, l1, lsgan, resdist_loss
from aist_plugins.cyclegan.models import build
from aist_plugins.cyclegan.networks import init_weights
from aist_plugins.cyclegan.pool import HistoryPool

EVAL_IMAGES = 32
CHECKPOINT = f"checkpoints/{ckpt_io.LAST}"
#: Config fields that do not change what the run computes (a resume may change them; steps
#: and epochs say where to stop, so a resume may extend a run).
NOT_CONTENT = ("device", "steps", "epochs", "checkpoint_every", "sample_every", "eval_every",
               "log_every", "channels_last", "feature_weights")


def check_domains(synthetic: str | Path, real: str | Path) -> dict:
    """Both datasets' identities, after checking they are the right way round: domain X has
    cameras (synthetic or stylized); domain Y is the target look: real photos, or a
    ground-truthed target domain (a synthetic dataset of another renderer or look, whose
    cameras the stylizer ignores), never domain X itself."""
    x, y = dataset_identity(synthetic), dataset_identity(real)
    if x["kind"] == "real" and y["kind"] != "real":
        raise ValueError(f"--synthetic {synthetic} is a real dataset and --real {real} a "
                         f"{y['kind']} one: swap them")
    if x["kind"] == "real":
        raise ValueError(f"--synthetic {synthetic}: a real dataset (photos without cameras); "
                         "domain X is a synthetic or stylized dataset")
    if y["kind"] == "stylized":
        raise ValueError(f"--real {real}: a stylized dataset; domain Y is real photos (from "
                         "`aist segment`) or a target-domain render (`aist render --look "
                         "varied`)")
    if y["kind"] != "real" and Path(real).resolve() == Path(synthetic).resolve():
        raise ValueError(f"--real {real}: the same dataset as --synthetic; domain Y is real "
                         "photos or a target-domain render of another look")
    return {"synthetic": x, "real": y}


class Trainer(TrainerContract):
    def __init__(self, config: StylizerConfig, synthetic: str | Path, real: str | Path,
                 run_dir: str | Path, *, resume: bool = False, overwrite: bool = False) -> None:
        """Train in ``run_dir``; a folder of the same training continues from its checkpoint
        (``resume`` demands one), any other is refused unless ``overwrite``."""
        config.validate()
        self.config = config
        # Absolute: the checkpoint names its data wherever it is used from.
        self.synthetic, self.real = str(Path(synthetic).resolve()), str(Path(real).resolve())
        self.device = torch.device(resolve_device(config.device))
        inputs = check_domains(synthetic, real)
        self.X, self.Y = ViewSet(synthetic, "train"), ViewSet(real, "train")
        self.X_eval = self._held_out(synthetic, ("val", "test"))
        self.Y_eval = self._held_out(real, ("test", "val"))
        self.gen = torch.Generator().manual_seed(config.seed)
        torch.manual_seed(config.seed)
        self.nets = build(config)
        for name in ("G", "F", "D_X", "D_Y"):
            init_weights(self.nets[name], std=config.init_std, generator=self.gen)
        fmt = memory_format(self.device, config.channels_last)
        for net in self.nets.values():
            net.to(self.device, memory_format=fmt)
        self.memory_format = fmt
        # The generator that stylizes: G itself, or the average of its recent weights.
        self.G_ema = copy.deepcopy(self.nets["G"]).requires_grad_(False) if config.ema else None
        self.phi = None
        self.phi_error = None
        try:
            from aist_app.stylize.features import feature_net

            self.phi = feature_net(config.feature_net, config.feature_weights).to(self.device)
        except (FileNotFoundError, ValueError) as e:
            if config.needs_features:
                raise
            self.phi_error = str(e)  # only the KID metric is lost
        self.opt_G = torch.optim.Adam(chain(self.nets["G"].parameters(),
                                            self.nets["F"].parameters()),
                                      lr=config.lr, betas=(config.beta1, 0.999))
        self.opt_D = torch.optim.Adam(chain(self.nets["D_X"].parameters(),
                                            self.nets["D_Y"].parameters()),
                                      lr=config.lr, betas=(config.beta1, 0.999))
        self.steps_per_epoch = math.ceil(max(len(self.X), len(self.Y)) / config.batch)
        self.total = config.steps or config.epochs * self.steps_per_epoch
        decay = config.decay_epochs * self.steps_per_epoch
        keep = self.total - decay

        def factor(step: int) -> float:
            if decay <= 0 or step < keep:
                return 1.0
            return max(0.0, 1.0 - (step - keep) / decay)

        self.sched_G = torch.optim.lr_scheduler.LambdaLR(self.opt_G, factor)
        self.sched_D = torch.optim.lr_scheduler.LambdaLR(self.opt_D, factor)
        self.pool_X = HistoryPool(config.pool_size, self.gen)
        self.pool_Y = HistoryPool(config.pool_size, self.gen)
        self.amp_dtype = amp_dtype(self.device, config.amp)
        self.scaler = grad_scaler(self.device, self.amp_dtype)
        self.step = 0
        self.history: list[dict] = []
        record = OutputRecord("train-stylizer", "aist-cyclegan",
                              content_config(config.as_dict(), NOT_CONTENT), inputs)
        self.output, resume = run_folder(run_dir, record, checkpoint=CHECKPOINT, resume=resume,
                                         overwrite=overwrite, what="stylizer run")
        self.run_dir = self.output.path
        if resume:
            self._restore(ckpt_io.load(self.run_dir))

    # -- data ----------------------------------------------------------------------------
    @staticmethod
    def _held_out(root, splits) -> ViewSet:
        for s in splits:
            try:
                vs = ViewSet(root, s)
                if vs.ds.object_ids(s):
                    return vs
            except ValueError:
                continue
        return ViewSet(root, "train")

    def _eval_batch(self, views: ViewSet) -> torch.Tensor:
        n = min(EVAL_IMAGES, len(views))
        idx = np.linspace(0, len(views) - 1, n).round().astype(int)
        return to_input(views.batch(idx), self.config.size)[0]

    def _batch(self, views: ViewSet) -> torch.Tensor:
        idx = torch.randint(len(views), (self.config.batch,), generator=self.gen)
        x = to_input(views.batch(idx), self.config.size)[0]
        if self.config.flip:
            x = random_flip(x, self.gen)
        return to_device(x, self.device).contiguous(memory_format=self.memory_format)

    # -- one step ------------------------------------------------------------------------
    def _autocast(self):
        return autocast(self.device, self.amp_dtype)

    def train_step(self) -> dict[str, float]:
        c = self.config
        G, F_, D_X, D_Y = (self.nets[k] for k in ("G", "F", "D_X", "D_Y"))
        x, y = self._batch(self.X), self._batch(self.Y)
        for d in (D_X, D_Y):
            d.requires_grad_(False)
        with self._autocast():
            fake_y, fake_x = G(x), F_(y)
            rec_x, rec_y = F_(fake_y), G(fake_x)
            terms = {
                "gan_G": lsgan(D_Y(fake_y), True),
                "gan_F": lsgan(D_X(fake_x), True),
                "cycle_A": l1(rec_x, x) * c.lambda_a,
                "cycle_B": l1(rec_y, y) * c.lambda_b,
            }
            if c.lambda_idt > 0:
                terms["idt_G"] = l1(G(y), y) * c.lambda_b * c.lambda_idt
                terms["idt_F"] = l1(F_(x), x) * c.lambda_a * c.lambda_idt
            if c.lambda_alpha > 0:
                terms["alpha"] = c.lambda_alpha * (alpha_loss(x, fake_y.float())
                                                   + alpha_loss(y, fake_x.float()))
            if c.lambda_resdist > 0:
                terms["resdist"] = c.lambda_resdist * (resdist_loss(self.phi, x, fake_y)
                                                       + resdist_loss(self.phi, y, fake_x))
            loss_G = sum(terms.values())
        self.opt_G.zero_grad(set_to_none=True)
        self.scaler.scale(loss_G).backward()
        self._clip(self.opt_G, chain(G.parameters(), F_.parameters()))
        self.scaler.step(self.opt_G)
        for d in (D_X, D_Y):
            d.requires_grad_(True)
        fy = self.pool_Y.query(fake_y.detach().float()).to(self.device)
        fx = self.pool_X.query(fake_x.detach().float()).to(self.device)
        with self._autocast():
            loss_DY = 0.5 * (lsgan(D_Y(y), True) + lsgan(D_Y(fy), False))
            loss_DX = 0.5 * (lsgan(D_X(x), True) + lsgan(D_X(fx), False))
        self.opt_D.zero_grad(set_to_none=True)
        self.scaler.scale(loss_DX + loss_DY).backward()
        self._clip(self.opt_D, chain(D_X.parameters(), D_Y.parameters()))
        self.scaler.step(self.opt_D)
        self.scaler.update()
        self._update_ema()
        self.sched_G.step()
        self.sched_D.step()
        self.step += 1
        out = {k: float(v.detach()) for k, v in terms.items()}
        out.update(G=float(loss_G.detach()), D_X=float(loss_DX.detach()),
                   D_Y=float(loss_DY.detach()))
        if not all(math.isfinite(v) for v in out.values()):
            raise FloatingPointError(f"step {self.step}: a loss is not finite: {out} (lower "
                                     "--lr or clip gradients: --clip-grad-value 5)")
        return out

    @torch.no_grad()
    def _update_ema(self) -> None:
        if self.G_ema is None:
            return
        for avg, p in zip(self.G_ema.parameters(), self.nets["G"].parameters(), strict=True):
            avg.lerp_(p.detach(), 1.0 - self.config.ema)

    @property
    def stylizing_G(self) -> torch.nn.Module:
        """The generator a finished run stylizes with (and its evaluations measure)."""
        return self.G_ema if self.G_ema is not None else self.nets["G"]

    def _clip(self, opt, params) -> None:
        c = self.config
        if c.clip_grad_value or c.clip_grad_norm:
            self.scaler.unscale_(opt)
            params = list(params)
            if c.clip_grad_value:
                torch.nn.utils.clip_grad_value_(params, c.clip_grad_value)
            if c.clip_grad_norm:
                torch.nn.utils.clip_grad_norm_(params, c.clip_grad_norm)

    # -- state ---------------------------------------------------------------------------
    def state(self) -> dict:
        return {
            "config": self.config.as_dict(),
            "step": self.step,
            "total": self.total,
            "data": {"synthetic": self.synthetic, "real": self.real},
            "models": {k: v.state_dict() for k, v in self.nets.items()}
            | ({"G_ema": self.G_ema.state_dict()} if self.G_ema is not None else {}),
            "optim": {"G": self.opt_G.state_dict(), "D": self.opt_D.state_dict()},
            "sched": {"G": self.sched_G.state_dict(), "D": self.sched_D.state_dict()},
            "scaler": self.scaler.state_dict(),
            "pools": {"X": self.pool_X.state(), "Y": self.pool_Y.state()},
            "rng": rng_state(self.gen),
            "history": self.history,
            "feature_net": {"name": self.phi.name, "weights": self.phi.weights}
            if self.phi is not None else None,
        }

    def notes(self) -> list[str]:
        """Lines for the user before training starts."""
        if self.phi is not None:
            return [f"feature network: {self.phi.name} ({self.phi.weights})"]
        return [f"feature network unavailable, KID metric off: {self.phi_error}"]

    def _restore(self, ck: dict) -> None:
        path = ck["path"]
        for k, net in self.nets.items():
            ckpt_io.load_module(net, ck["models"][k], k, path)
        if self.G_ema is not None:
            ckpt_io.load_module(self.G_ema, ck["models"]["G_ema"], "G_ema", path)
        self.opt_G.load_state_dict(ck["optim"]["G"])
        self.opt_D.load_state_dict(ck["optim"]["D"])
        self.sched_G.load_state_dict(ck["sched"]["G"])
        self.sched_D.load_state_dict(ck["sched"]["D"])
        if ck.get("scaler"):
            self.scaler.load_state_dict(ck["scaler"])
        self.pool_X.load(ck["pools"]["X"])
        self.pool_Y.load(ck["pools"]["Y"])
        restore_rng(self.gen, ck["rng"])
        self.step = int(ck["step"])
        self.history = list(ck["history"])

    def save_checkpoint(self) -> Path:
        path = self.run_dir / "checkpoints" / ckpt_io.LAST
        ckpt_io.save(path, self.state())
        return path

    # -- outputs -------------------------------------------------------------------------
    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        G = self.stylizing_G.eval()
        try:
            x = self._eval_batch(self.X_eval).to(self.device)
            fake = torch.cat([G(x[i:i + 8]).float() for i in range(0, len(x), 8)])
            out = {"mask_iou": mask_iou(x, fake)}
            if self.phi is not None:
                y = self._eval_batch(self.Y_eval).to(self.device)
                if len(fake) > 1 and len(y) > 1:
                    out["kid"] = kid(pooled_features(self.phi, fake),
                                     pooled_features(self.phi, y))
        finally:
            G.train()
        return out

    @torch.no_grad()
    def sample_grid(self) -> bytes:
        """Rows: synthetic | G(x) | F(G(x)), and real | F(y) (| blank)."""
        from aist_app.common.images import encode_png

        G, F_ = self.stylizing_G.eval(), self.nets["F"].eval()
        try:
            n = 4
            x = self._eval_batch(self.X_eval)[:n].to(self.device)
            y = self._eval_batch(self.Y_eval)[:n].to(self.device)
            gx = G(x).float()
            fgx, fy = F_(gx).float(), F_(y).float()
        finally:
            G.train()
            F_.train()
        blank = torch.full_like(x[0], -1.0)
        rows = [torch.cat([x[i], gx[i], fgx[i]], dim=2) for i in range(len(x))]
        rows += [torch.cat([y[i], fy[i], blank], dim=2) for i in range(len(y))]
        grid = torch.cat(rows, dim=1)  # (3, rows * S, 3 * S)
        img = ((grid.clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).cpu().numpy()
        rgba = np.concatenate([img, np.full(img.shape[:2] + (1,), 255, np.uint8)], axis=2)
        return encode_png(rgba)

    def _write_metrics(self) -> None:
        atomic_write_jsonl(self.run_dir / "metrics.jsonl", self.history)

    def _plot_losses(self) -> None:
        from aist_plugins.cyclegan.plots import loss_curves

        train = [h for h in self.history if h.get("kind") == "train"]
        if train:
            atomic_write_bytes(self.run_dir / "loss_curves.png", loss_curves(train))

    # -- the loop ------------------------------------------------------------------------
    def run(self) -> Generator[TrainProgress, None, Path]:
        c = self.config
        self.run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_json(self.run_dir / "config.json", {
            "config": c.as_dict(), "synthetic": self.synthetic, "real": self.real,
            "device": str(self.device), "amp": str(self.amp_dtype),
            **cpu_kernels(),
            "feature_net": self.phi.weights if self.phi is not None else self.phi_error})
        return (yield from training_loop(
            self, total=self.total, log_every=c.log_every, periodic=[
                Every(c.eval_every, self.evaluate, "eval"),
                Every(c.sample_every, self._write_samples)],
            checkpoint_every=c.checkpoint_every, save=self._save))

    def _write_samples(self) -> None:
        atomic_write_bytes(self.run_dir / "samples" / f"step_{self.step:07d}.png",
                           self.sample_grid())

    def _save(self) -> Path:
        last = self.save_checkpoint()
        self._write_metrics()
        self._plot_losses()
        return last
