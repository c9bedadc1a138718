"""``VocoderGAN``: the GAN training step under Lightning 2 manual optimization.

Training runs in up to three phases, in this order, counted in iterations (batches):

1. ``pretrain_mel_steps``: generator steps on the mel loss alone (discriminators untouched);
2. ``disc_warmup_steps``: discriminator steps alone, generator frozen (fine-tuning a
   pretrained generator with fresh discriminators);
3. the GAN: a discriminator step on (real, generated.detach()), then a generator step on
   mel + adversarial + feature-matching terms with the discriminators frozen.

Both learning-rate schedules are stepped once per iteration.

Step counting: under manual optimization Lightning's ``trainer.global_step`` counts every
optimizer step, so a GAN iteration advances it by 2 and a mel-only iteration by 1, and
``trainer.max_steps`` is in those units (the Vocos recipe's 2M = 1M generator updates).
``self.iteration`` (the generator scheduler's counter, saved in checkpoints) counts batches.
"""

from __future__ import annotations

import contextlib
import logging
import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Timer
from torch import nn
from torch.nn.utils import parametrize

from vocoder_train.losses.adversarial import Adversary, weighted_sum
from vocoder_train.metrics import MetricAccumulator, compute_metrics
from vocoder_train.metrics.registry import check_names
from vocoder_train.metrics.utmos import load_utmos
from vocoder_train.models.generator import match_length

log = logging.getLogger(__name__)

SLOW_METRICS = frozenset({"pesq", "stoi", "periodicity", "vuv_f1", "pitch_cents"})

# Speed options (``model.perf.<key>`` in the run config, or the ``perf`` argument). None of them
# changes the math: fp32 results match the defaults to float rounding (tests/test_perf_options.py).
PERF_DEFAULTS: dict[str, Any] = {
    # Discriminator Conv2d weights (and so their activations) in channels_last (NHWC) layout.
    "channels_last": False,
    # Compute each weight-normed discriminator weight once per G step instead of once per
    # forward (the G step runs each discriminator twice: real under no_grad, then generated).
    "cache_weight_norm": True,
    # D step: real and generated audio through each discriminator as one batch of 2B instead of two
    # passes of B. Same values; two passes measured 2% faster here (fp32 20.02 vs 20.40 s, bf16 11.82 vs 12.01 s).
    "concat_d_pass": False,
}


def cosine_with_warmup(step: int, warmup: int, total: int, min_ratio: float = 0.0) -> float:
    """LR multiplier: linear warm-up over ``warmup`` steps, then cosine decay to ``min_ratio`` at ``total``."""
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def resolve_perf(perf: Mapping[str, Any] | None, config: Mapping | None = None) -> dict[str, Any]:
    """The speed options: defaults, updated by ``config["model"]["perf"]``, then by ``perf``."""
    out = dict(PERF_DEFAULTS)
    model_cfg = (config or {}).get("model") if isinstance(config, Mapping) else None
    from_config = (model_cfg or {}).get("perf") if isinstance(model_cfg, Mapping) else None
    for source in (from_config or {}, perf or {}):
        unknown = sorted(set(source) - set(PERF_DEFAULTS))
        if unknown:
            raise ValueError(f"model.perf: unknown option(s) {unknown}; known: {sorted(PERF_DEFAULTS)}")
        out.update({k: bool(v) for k, v in source.items()})
    return out


class NonFiniteLossError(RuntimeError):
    pass


class VocoderGAN(pl.LightningModule):
    """Generator + adversary + losses, optimized with two AdamW optimizers.

    Args:
        generator (nn.Module): audio (B, T) -> audio (B, T); has ``features``/``synthesize``.
        adversary (Adversary): the discriminators and their losses.
        mel_loss (nn.Module): (y_hat, y) -> scalar; the ``g_mel`` term and ``val/mel_l1``.
        spectral_losses (Mapping[str, nn.Module] | None): more reconstruction terms for the
            generator, by logged name (e.g. ``g_mrstft``, ``g_msmel``), each weighted by ``lambdas``.
        lambdas (Mapping[str, float]): weight per loss term, keyed by the logged name.
        optim (Mapping): lr_g, lr_d, betas, weight_decay, warmup_steps, min_lr_ratio,
            total_iterations (None: derived from trainer.max_steps), pretrain_mel_steps,
            disc_warmup_steps, freeze (generator submodules kept fixed, e.g. ["backbone"]),
            grad_clip_g, grad_clip_d (None: no clipping, norm still logged),
            max_nonfinite (consecutive non-finite steps tolerated before stopping).
        sample_rate (int): for logging audio and throughput.
        config (Mapping | None): the resolved run config, stored in checkpoints so
            ``vocoder-export`` can rebuild the generator.
        max_skipped_files (int): unreadable training files tolerated (each skip is replaced by
            another file and logged as ``data/skipped``) before the run stops naming them.
        val_metrics (Sequence[str]): metrics of :mod:`vocoder_train.metrics` computed per validation
            item and logged as ``val/<name>`` (means over all items of all ranks); ``val/mel_l1``
            is always logged.
        slow_metrics_every (int): compute the slow ones (PESQ, STOI, pitch) every n-th validation.
        utmos (str | None): a local TorchScript MOS model; logs ``val/utmos`` (skipped with a notice if None).
        perf (Mapping | None): speed options, see :data:`PERF_DEFAULTS`; when None they are read
            from ``config["model"]["perf"]`` (e.g. ``+model.perf.channels_last=true``).
            Mixed precision is the trainer's: ``trainer.precision=bf16-mixed``.
    """

    def __init__(
        self,
        generator: nn.Module,
        adversary: Adversary,
        mel_loss: nn.Module,
        lambdas: Mapping[str, float],
        optim: Mapping[str, Any],
        sample_rate: int,
        config: Mapping | None = None,
        spectral_losses: Mapping[str, nn.Module] | None = None,
        max_skipped_files: int = 100,
        val_metrics: Sequence[str] = (),
        slow_metrics_every: int = 1,
        utmos: str | None = None,
        perf: Mapping[str, Any] | None = None,
    ):
        super().__init__()
        self.automatic_optimization = False
        self.generator = generator
        self.adversary = adversary
        self.mel_loss = mel_loss
        self.spectral_losses = nn.ModuleDict(dict(spectral_losses or {}))
        # losses on the head's spectrum (HeadMagnitudeLoss) rather than on the waveform
        self._spectrum_losses = {k for k, v in self.spectral_losses.items() if getattr(v, "takes_spectrum", False)}
        self.lambdas = dict(lambdas)
        self.optim_cfg = dict(optim)
        self.sample_rate = int(sample_rate)
        self.run_config = dict(config) if config is not None else None
        self.pretrain_mel_steps = int(self.optim_cfg.get("pretrain_mel_steps", 0))
        self.disc_warmup_steps = int(self.optim_cfg.get("disc_warmup_steps", 0))
        self.time_budget = bool(self.optim_cfg.get("time_budget", False))
        self._mel_end: int | None = None  # time_budget: iteration where the mel-only phase ended
        self._short_gan_logged = False
        self.frozen = list(self.optim_cfg.get("freeze") or [])
        for name in self.frozen:
            sub = getattr(self.generator, name, None)
            if not isinstance(sub, nn.Module):
                raise ValueError(f"model.optim.freeze: generator has no submodule {name!r} (feature_extractor, backbone, head)")
            sub.requires_grad_(False)
        self._nonfinite_in_a_row = 0
        self.nonfinite_skips = 0
        self.max_skipped_files = int(max_skipped_files)
        self.skipped_files: list[str] = []
        self.val_metrics = check_names(val_metrics)
        self.slow_metrics_every = max(1, int(slow_metrics_every))
        self.utmos = load_utmos(utmos)
        self._val_acc = MetricAccumulator()
        self._validations = 0
        self.perf = resolve_perf(perf, config)
        if self.perf["channels_last"]:
            self.adversary.to(memory_format=torch.channels_last)

    # -- optimizers ------------------------------------------------------------------------

    def total_iterations(self) -> int:
        total = self.optim_cfg.get("total_iterations")
        if total:
            return int(total)
        max_steps = self.trainer.max_steps if self._trainer is not None else -1
        if max_steps is None or max_steps <= 0:
            raise ValueError(
                "model.optim.total_iterations is needed when trainer.max_steps is not set (e.g. with max_time)"
            )
        single = self.pretrain_mel_steps + self.disc_warmup_steps  # one optimizer step per iteration
        return max_steps if max_steps <= single else single + (max_steps - single) // 2

    def phase(self, iteration: int | None = None) -> str:
        """"mel", "disc_warmup" or "gan" for an iteration (default: the current one).

        With ``time_budget``, the mel-only phase lasts ``pretrain_mel_fraction`` of ``trainer.max_time``
        instead of ``pretrain_mel_steps``; the iteration where it ended is kept (and checkpointed). When
        less than ``min_gan_seconds`` would be left for the GAN phase, there is none: mel-only to the end.
        """
        it = self.iteration if iteration is None else iteration
        mel_end = self._mel_end_iteration(current=iteration is None)
        if mel_end is None or it < mel_end:
            return "mel"
        if it < mel_end + self.disc_warmup_steps:
            return "disc_warmup"
        return "gan"

    def _mel_end_iteration(self, current: bool) -> int | None:
        if not self.time_budget:
            return self.pretrain_mel_steps
        if self._mel_end is None and current and self._trainer is not None:
            done = (self.time_progress() or 0.0) >= float(self.optim_cfg.get("pretrain_mel_fraction", 0.0))
            min_gan = float(self.optim_cfg.get("min_gan_seconds", 0) or 0)
            if done and min_gan > 0 and self._time_remaining() < min_gan:
                done = False  # too little time left for a GAN phase to pay: mel-only to the end
                if not self._short_gan_logged:
                    self._short_gan_logged = True
                    log.info("time budget: %.0f s left at the GAN switch < model.optim.min_gan_seconds=%g; "
                             "training stays mel-only", self._time_remaining(), min_gan)
            if self.trainer.world_size > 1:  # every rank must switch at the same iteration
                done = bool(self.trainer.strategy.broadcast(done, src=0))
            if done:
                self._mel_end = self.iteration
        return self._mel_end

    def _timer(self) -> Timer | None:
        return next((c for c in self.trainer.callbacks if isinstance(c, Timer)), None)

    def _time_remaining(self) -> float:
        """Seconds of ``trainer.max_time`` left (inf without a time limit)."""
        timer = self._timer()
        remaining = timer.time_remaining("train") if timer is not None else None
        return math.inf if remaining is None else float(remaining)

    def time_progress(self) -> float | None:
        """Fraction of ``trainer.max_time`` spent training (None without a time limit)."""
        timer = self._timer()
        remaining = timer.time_remaining("train") if timer is not None else None
        if remaining is None:
            return None
        elapsed = timer.time_elapsed("train")
        return min(1.0, elapsed / max(elapsed + remaining, 1e-9))

    def configure_optimizers(self):
        o = self.optim_cfg
        betas = tuple(o.get("betas", (0.8, 0.9)))
        wd = float(o.get("weight_decay", 0.01))
        trainable = [p for p in self.generator.parameters() if p.requires_grad]
        if not trainable:
            raise ValueError(f"model.optim.freeze={self.frozen} leaves no generator parameter to train")
        opt_g = torch.optim.AdamW(trainable, lr=float(o["lr_g"]), betas=betas, weight_decay=wd)
        opt_d = torch.optim.AdamW(self.adversary.parameters(), lr=float(o["lr_d"]), betas=betas, weight_decay=wd)
        warmup, min_ratio = int(o.get("warmup_steps", 0)), float(o.get("min_lr_ratio", 0.0))
        if self.time_budget:  # cosine over the fraction of trainer.max_time spent, warm-up in steps

            def schedule(step: int) -> float:
                progress = self.time_progress() if self._trainer is not None else 0.0
                if progress is None:
                    raise ValueError("model.optim.time_budget=true needs trainer.max_time")
                decay = min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))
                return min(1.0, (step + 1) / warmup if warmup else 1.0) * decay
        else:
            total = self.total_iterations()

            def schedule(step: int) -> float:
                return cosine_with_warmup(step, warmup, total, min_ratio)

        sched_g = torch.optim.lr_scheduler.LambdaLR(opt_g, schedule)
        sched_d = torch.optim.lr_scheduler.LambdaLR(opt_d, schedule)
        return [opt_g, opt_d], [sched_g, sched_d]

    @property
    def iteration(self) -> int:
        """Training iterations (batches) done, restored on resume with the scheduler state."""
        scheds = self.lr_schedulers() if self._trainer is not None else None
        return int(scheds[0].last_epoch) if scheds else 0

    # -- training --------------------------------------------------------------------------

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        return self.generator(audio)

    def generate(self, batch: dict, return_spectrum: bool = False):
        """Generated audio (B, T) for a batch: from its ``mel`` (B, n_mels, L) when present
        (teacher-forced fine-tuning), else copy synthesis of its ``audio``. ``return_spectrum``:
        ``(audio, the head's complex spectrum)``, for losses that take it."""
        audio = batch["audio"]
        if "mel" not in batch:
            return self.generator(audio, return_spectrum=return_spectrum)
        out = self.generator.synthesize(batch["mel"], return_spectrum=return_spectrum)
        if return_spectrum:
            return match_length(out[0], audio.shape[-1]), out[1]
        return match_length(out, audio.shape[-1])

    def training_step(self, batch: dict, batch_idx: int) -> dict[str, torch.Tensor]:
        """One iteration of the current phase. A non-finite D loss or gradient skips the whole
        iteration (D and G); a non-finite G loss or gradient skips the G step. Skips are counted,
        and ``max_nonfinite`` in a row stop the run with advice."""
        audio = batch["audio"]
        opt_g, opt_d = self.optimizers()
        phase = self.phase()
        spectrum = None
        if phase == "disc_warmup":
            with torch.no_grad():
                audio_hat = self.generate(batch)
        elif self._spectrum_losses:
            audio_hat, spectrum = self.generate(batch, return_spectrum=True)
        else:
            audio_hat = self.generate(batch)
        logs: dict[str, torch.Tensor] = {}

        if phase != "mel":
            d_terms = self.adversary.discriminator_losses(audio, audio_hat.detach(), self.perf["concat_d_pass"])
            logs.update(d_terms, d_total=weighted_sum(d_terms, self.lambdas))
            logs["grad_norm_d"] = self._backward_step(opt_d, logs["d_total"], self.adversary, "discriminator")
            if not torch.isfinite(logs["grad_norm_d"]):
                self._log_train(logs, batch, opt_g, opt_d)
                return {k: v.detach() for k, v in logs.items()}

        if phase != "disc_warmup":
            g_terms = {"g_mel": self.mel_loss(audio_hat, audio)}
            g_terms.update({name: loss(spectrum if name in self._spectrum_losses else audio_hat, audio)
                            for name, loss in self.spectral_losses.items()})
            if phase == "gan":
                self.adversary.requires_grad_(False)  # no D gradients in the G step
                # D is frozen here, so one weight per weight-normed conv serves both D passes
                with parametrize.cached() if self.perf["cache_weight_norm"] else contextlib.nullcontext():
                    g_terms.update(self.adversary.generator_losses(audio, audio_hat))
                self.adversary.requires_grad_(True)
            logs.update(g_terms, g_total=weighted_sum(g_terms, self.lambdas))
            logs["grad_norm_g"] = self._backward_step(opt_g, logs["g_total"], self.generator, "generator")
        self._step_schedulers()
        self._log_train(logs, batch, opt_g, opt_d)
        return {k: v.detach() for k, v in logs.items()}  # reaches callbacks' on_train_batch_end

    def _step_schedulers(self) -> None:
        sched_g, sched_d = self.lr_schedulers()
        sched_g.step()
        with warnings.catch_warnings():  # during mel-only iterations opt_d has not stepped yet; that is intended
            warnings.filterwarnings("ignore", message="Detected call of")
            sched_d.step()

    def _backward_step(self, opt, loss: torch.Tensor, module: nn.Module, what: str) -> torch.Tensor:
        """Backward, clip, step; returns the gradient norm (NaN when the loss was not finite: no step)."""
        if not torch.isfinite(loss):
            self._count_nonfinite(f"{what} loss")
            return torch.tensor(float("nan"), device=loss.device)
        opt.zero_grad(set_to_none=True)
        self.manual_backward(loss)
        clip = self.optim_cfg.get("grad_clip_g" if what == "generator" else "grad_clip_d")
        params = [p for p in module.parameters() if p.grad is not None]
        norm = torch.nn.utils.clip_grad_norm_(params, clip if clip else float("inf"))
        if not torch.isfinite(norm):
            self._count_nonfinite(f"{what} gradient")
            return norm
        opt.step()
        self._nonfinite_in_a_row = 0
        return norm

    def _count_nonfinite(self, what: str) -> None:
        self.nonfinite_skips += 1
        self._nonfinite_in_a_row += 1
        limit = int(self.optim_cfg.get("max_nonfinite", 20))
        if self._nonfinite_in_a_row > limit:
            raise NonFiniteLossError(
                f"non-finite {what} in {self._nonfinite_in_a_row} steps in a row (at iteration {self.iteration}); "
                f"lower model.optim.lr_g/lr_d, set model.optim.grad_clip_g/grad_clip_d, "
                f"or train in trainer.precision=32-true / bf16-mixed instead of 16-mixed"
            )

    def _log_train(self, logs: dict, batch: dict, opt_g, opt_d) -> None:
        bs = batch["audio"].shape[0]
        self.log_dict({f"train/{k}": v.detach().float() for k, v in logs.items()}, batch_size=bs)
        if "g_mel" in logs:
            self.log("g_mel", logs["g_mel"].detach(), prog_bar=True, logger=False, batch_size=bs)
        self.log("train/lr_g", opt_g.param_groups[0]["lr"], batch_size=bs)
        self.log("train/lr_d", opt_d.param_groups[0]["lr"], batch_size=bs)
        self.log("train/nonfinite_skips", float(self.nonfinite_skips), batch_size=bs)
        self.log("train/phase", float(("mel", "disc_warmup", "gan").index(self.phase())), batch_size=bs)
        skipped = batch.get("skipped")
        if skipped is not None:
            self.log("data/skipped", skipped.sum().float(), reduce_fx="sum", batch_size=bs)
            self._count_skipped(batch)
        if "mel_fixed" in batch:  # teacher-forced pairs whose mel frame count was trimmed/padded
            self.log("data/mel_frames_fixed", batch["mel_fixed"].sum().float(), reduce_fx="sum", batch_size=bs)

    def _count_skipped(self, batch: dict) -> None:
        for n, path in zip(batch["skipped"].tolist(), batch.get("skipped_path", [])):
            self.skipped_files.extend([path] * int(n))
        if len(self.skipped_files) > self.max_skipped_files:
            names = sorted(set(self.skipped_files))
            raise RuntimeError(
                f"{len(self.skipped_files)} reads of unreadable/NaN training files (limit max_skipped_files="
                f"{self.max_skipped_files}); first ones: {', '.join(names[:10])}. Re-run vocoder-prepare "
                "on the corpus (it rejects such files) or raise max_skipped_files"
            )

    # -- validation ------------------------------------------------------------------------

    def on_validation_epoch_start(self) -> None:
        self._val_acc.reset()
        if not self.trainer.sanity_checking:
            self._validations += 1

    def _metrics_now(self) -> tuple[str, ...]:
        if self.trainer.sanity_checking:
            return ()
        slow_turn = (self._validations - 1) % self.slow_metrics_every == 0
        return tuple(n for n in self.val_metrics if slow_turn or n not in SLOW_METRICS)

    def validation_step(self, batch: dict, batch_idx: int) -> dict:
        audio = batch["audio"]
        audio_hat = self.generate(batch)
        mel_l1 = self.mel_loss(audio_hat, audio)
        self.log("val/mel_l1", mel_l1, sync_dist=True, batch_size=audio.shape[0], prog_bar=True)
        names = self._metrics_now()
        if self.utmos is not None and not self.trainer.sanity_checking:  # predicted MOS, local weights only
            for v in self.utmos.score(audio_hat, self.sample_rate).tolist():
                self._val_acc.update({"utmos": v})
        if names:
            ref, hat = audio.float().cpu().numpy(), audio_hat.float().cpu().numpy()
            for r, h in zip(ref, hat):
                self._val_acc.update(compute_metrics(r, h, self.sample_rate, names))
        return {"audio": audio.detach(), "audio_hat": audio_hat.detach()}

    def on_validation_epoch_end(self) -> None:
        means = self._val_acc.reduce()  # all-reduced across DDP ranks: every rank logs the same value
        if means:
            self.log_dict({f"val/{k}": float(v) for k, v in means.items()}, sync_dist=False)

    # -- checkpoints -----------------------------------------------------------------------

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint.setdefault("vocoder_train", {})["config"] = self.run_config
        checkpoint["vocoder_train"]["nonfinite_skips"] = self.nonfinite_skips
        checkpoint["vocoder_train"]["mel_end_iteration"] = self._mel_end

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self.nonfinite_skips = int(checkpoint.get("vocoder_train", {}).get("nonfinite_skips", 0))
        self._mel_end = checkpoint.get("vocoder_train", {}).get("mel_end_iteration")
