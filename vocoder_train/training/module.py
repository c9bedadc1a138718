"""``VocoderGAN``: the GAN training step under Lightning 2 manual optimization.

Each iteration (batch) runs the phase that :mod:`vocoder_train.training.schedules` gives it:
mel-only generator steps, discriminator-only steps, or the GAN: a discriminator step on
(real, generated.detach()), then a generator step on mel + adversarial + feature-matching terms
with the discriminators frozen. Both learning-rate schedules are stepped once per iteration.

Step counting: under manual optimization Lightning's ``trainer.global_step`` counts every
optimizer step, so a GAN iteration advances it by 2 and a mel-only iteration by 1, and
``trainer.max_steps`` is in those units (the Vocos recipe's 2M = 1M generator updates).
``self.iteration`` (the generator scheduler's counter, saved in checkpoints) counts batches.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import pytorch_lightning as pl
import torch
from torch import nn

from vocoder_train.io.buffers import drop_derived, make_transient
from vocoder_train.losses import weighted_sum
from vocoder_train.losses.adversarial import Adversary
from vocoder_train.metrics import MetricAccumulator, compute_metrics
from vocoder_train.metrics.registry import SLOW_METRICS, MetricOptions, check_names
from vocoder_train.metrics.utmos import load_utmos
from vocoder_train.models.generator import match_length
from vocoder_train.training.perf import apply_perf, optimizer_kwargs, weight_norm_cache
from vocoder_train.training.schedules import PHASES, Phases, lr_multiplier, optim_key_problems
from vocoder_train.training.stepping import StepGuard


class VocoderGAN(pl.LightningModule):
    """Generator + adversary + losses, optimized with two AdamW optimizers.

    Args:
        generator (nn.Module): a :class:`~vocoder_train.models.generator.VocosGenerator`.
        adversary (Adversary): the discriminators and their losses.
        mel_loss (nn.Module): (y_hat, y) -> scalar; the ``g_mel`` term and ``val/mel_l1``.
        lambdas (Mapping[str, float]): weight per loss term, keyed by the logged name.
        optim (Mapping): ``model.optim``, every key of configs/model/optim/adamw_cosine.yaml
            (which says what each does).
        sample_rate (int): for logging audio and throughput.
        config (Mapping | None): the resolved run config, stored in checkpoints so
            ``vocoder-export`` can rebuild the generator.
        spectral_losses (Mapping[str, nn.Module]): more reconstruction terms for the generator,
            by logged name (e.g. ``g_mrstft``), each weighted by ``lambdas``; those with
            ``takes_spectrum`` get the head's spectrum instead of the waveform.
        val_metrics (Sequence[str]): metrics of :mod:`vocoder_train.metrics` logged as ``val/<name>``
            (means over all items of all ranks); ``val/mel_l1`` is always logged.
        slow_metrics_every (int): compute the slow ones (PESQ, STOI, pitch) every n-th validation.
        utmos (str | None): a local TorchScript MOS model; logs ``val/utmos`` (skipped if None).
        crepe_model (str): CREPE capacity of the pitch metrics, "full" (the Vocos paper's) or "tiny".
        perf (Mapping | None): ``model.perf``, the step's speed options (:mod:`vocoder_train.training.perf`);
            None: none of them (torch's default AdamW).
    """

    def __init__(
        self,
        generator: nn.Module,
        adversary: Adversary,
        mel_loss: nn.Module,
        lambdas: Mapping[str, float],
        optim: Mapping[str, Any],
        sample_rate: int,
        *,
        config: Mapping | None,
        spectral_losses: Mapping[str, nn.Module],
        val_metrics: Sequence[str],
        slow_metrics_every: int,
        utmos: str | None,
        crepe_model: str = "full",
        perf: Mapping[str, Any] | None = None,
    ):
        super().__init__()
        problems = optim_key_problems(optim)
        if problems:
            raise ValueError("; ".join(problems))
        self.automatic_optimization = False
        self.generator, self.adversary, self.mel_loss = generator, adversary, mel_loss
        self.spectral_losses = nn.ModuleDict(dict(spectral_losses))
        make_transient(self)  # any configured module's windows/filterbanks: rebuilt, never checkpointed
        self._spectrum_losses = {
            k for k, v in self.spectral_losses.items() if getattr(v, "takes_spectrum", False)
        }
        self.lambdas = dict(lambdas)
        self.optim_cfg = dict(optim)
        self.sample_rate = int(sample_rate)
        self.run_config = dict(config) if config is not None else None
        self.phases = Phases(self.optim_cfg)
        self._freeze(list(self.optim_cfg["freeze"] or []))
        self.guard = StepGuard(int(self.optim_cfg["max_nonfinite"]))
        self.val_metrics = check_names(val_metrics)
        self.slow_metrics_every = max(1, int(slow_metrics_every))
        self.utmos = load_utmos(utmos)
        self.metric_options = MetricOptions(crepe_model)  # CREPE on this rank's GPU when there is one
        self._val_acc = MetricAccumulator()
        self._validations = 0
        self.perf = dict(perf or {})
        apply_perf(self.generator, self.adversary.discriminators, self.perf)

    def _freeze(self, names: list[str]) -> None:
        for name in names:
            sub = getattr(self.generator, name, None)
            if not isinstance(sub, nn.Module):
                raise ValueError(
                    f"model.optim.freeze: generator has no submodule {name!r} (feature_extractor, backbone, "
                    "head)"
                )
            sub.requires_grad_(False)

    # -- optimizers ------------------------------------------------------------------------

    def configure_optimizers(self):
        o = self.optim_cfg
        betas, wd = tuple(o["betas"]), float(o["weight_decay"])
        trainable = [p for p in self.generator.parameters() if p.requires_grad]
        if not trainable:
            raise ValueError(f"model.optim.freeze={o['freeze']} leaves no generator parameter to train")
        impl = optimizer_kwargs(self.perf) if self.perf else {}
        opt_g = torch.optim.AdamW(trainable, lr=float(o["lr_g"]), betas=betas, weight_decay=wd, **impl)
        opt_d = torch.optim.AdamW(
            self.adversary.parameters(), lr=float(o["lr_d"]), betas=betas, weight_decay=wd, **impl
        )
        schedule = lr_multiplier(o, self.trainer, self.phases)
        sched_g = torch.optim.lr_scheduler.LambdaLR(opt_g, schedule)
        sched_d = torch.optim.lr_scheduler.LambdaLR(opt_d, schedule)
        return [opt_g, opt_d], [sched_g, sched_d]

    @property
    def iteration(self) -> int:
        """Training iterations (batches) done, restored on resume with the scheduler state."""
        scheds = self.lr_schedulers() if self._trainer is not None else None
        return int(scheds[0].last_epoch) if scheds else 0

    def phase(self, iteration: int | None = None) -> str:
        """ "mel", "disc_warmup" or "gan" for an iteration (default: the current one)."""
        return self.phases.phase(self.iteration if iteration is None else iteration)

    # -- training --------------------------------------------------------------------------

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        return self.generator(audio)

    def _features(self, batch: dict) -> torch.Tensor:
        """The batch's ``features`` (B, C, L) when present (teacher-forced pairs: mels or other
        precomputed features), else the generator's features of its ``audio`` (copy synthesis)."""
        if "features" in batch:
            return batch["features"]
        return self.generator.features(batch["audio"], batch.get("condition"))

    def generate(self, batch: dict) -> torch.Tensor:
        """Generated audio (B, T) for a batch, T = the length of ``batch["audio"]``; a conditioned generator
        takes the batch's ``condition``."""
        audio = self.generator.synthesize(self._features(batch), batch.get("condition"))
        return match_length(audio, batch["audio"].shape[-1])

    def _draw_condition(self, batch: dict) -> dict:
        """A conditioned generator (the EnCodec model's bandwidths) trains at a random conditioning id per
        batch, as vocos does; drawn from the iteration, so a resumed run draws the same ones."""
        n = getattr(self.generator, "conditions", 0)
        if not n or "condition" in batch:
            return batch
        draw = torch.Generator().manual_seed(int(self.iteration))
        return {**batch, "condition": torch.randint(n, (1,), generator=draw).to(batch["audio"].device)}

    def training_step(self, batch: dict, batch_idx: int) -> dict[str, torch.Tensor]:
        """One iteration of the current phase. A non-finite D loss or gradient skips the whole
        iteration (D and G); a non-finite G loss or gradient skips the G step. Skips are counted,
        and ``max_nonfinite`` in a row stop the run with advice."""
        batch = self._draw_condition(batch)
        audio, condition = batch["audio"], batch.get("condition")
        opt_g, opt_d = self.optimizers()
        self.phases.update(self.iteration, self.trainer)
        phase = self.phase()
        spectrum = None
        if phase == "disc_warmup":
            with torch.no_grad():
                audio_hat = self.generate(batch)
        elif self._spectrum_losses:
            audio_hat, spectrum = self.generator.synthesize_with_spectrum(self._features(batch), condition)
            audio_hat = match_length(audio_hat, audio.shape[-1])
        else:
            audio_hat = self.generate(batch)
        logs: dict[str, torch.Tensor] = {}

        if phase != "mel":
            with weight_norm_cache(self.perf):
                d_terms = self.adversary.discriminator_losses(audio, audio_hat.detach(), condition)
            logs.update(d_terms, d_total=weighted_sum(d_terms, self.lambdas))
            logs["grad_norm_d"] = self._backward_step(opt_d, logs["d_total"], self.adversary, "discriminator")
            if not torch.isfinite(logs["grad_norm_d"]):
                self._log_train(logs, batch, opt_g, opt_d)
                return {k: v.detach() for k, v in logs.items()}

        if phase != "disc_warmup":
            g_terms = {"g_mel": self.mel_loss(audio_hat, audio)}
            g_terms.update(
                {
                    name: loss(spectrum if name in self._spectrum_losses else audio_hat, audio)
                    for name, loss in self.spectral_losses.items()
                }
            )
            if phase == "gan":
                self.adversary.requires_grad_(False)  # no D gradients in the G step
                with weight_norm_cache(self.perf):
                    g_terms.update(self.adversary.generator_losses(audio, audio_hat, condition))
                self.adversary.requires_grad_(True)
            logs.update(g_terms, g_total=weighted_sum(g_terms, self.lambdas))
            logs["grad_norm_g"] = self._backward_step(opt_g, logs["g_total"], self.generator, "generator")
        self._step_schedulers()
        self._log_train(logs, batch, opt_g, opt_d)
        return {k: v.detach() for k, v in logs.items()}  # reaches callbacks' on_train_batch_end

    def _step_schedulers(self) -> None:
        sched_g, sched_d = self.lr_schedulers()
        # intended: during mel-only iterations opt_d has not stepped yet, and under 16-mixed the
        # GradScaler may have skipped the first steps of either optimizer
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Detected call of")
            sched_g.step()
            sched_d.step()

    def _backward_step(self, opt, loss: torch.Tensor, module: nn.Module, what: str) -> torch.Tensor:
        """Backward, then the step through Lightning's precision plugin, which calls
        :meth:`on_before_optimizer_step` (clipping) once the gradients are unscaled (16-mixed);
        returns the gradient norm (NaN when the loss was not finite: no step)."""
        if not torch.isfinite(loss):
            self.guard.count(f"{what} loss", self.iteration)
            return torch.tensor(float("nan"), device=loss.device)
        opt.zero_grad(set_to_none=True)
        # Lightning runs training_step, and so this backward, under autocast: there the backward of
        # the fp32 parts (mel filterbank, head, STFT losses) would run its matmuls in fp16/bf16.
        # Outside autocast every op's gradient runs in the dtype its forward ran in.
        with torch.autocast(device_type=loss.device.type, enabled=False):
            self.manual_backward(loss)
        clip = self.optim_cfg["grad_clip_g" if what == "generator" else "grad_clip_d"]
        # 16-mixed: the GradScaler skips the update on inf/NaN gradients and lowers its scale
        return self.guard.step(opt.step, module, clip, what, self.iteration, self._scaler())

    def on_before_optimizer_step(self, optimizer) -> None:
        """Clips the gradients of the module being stepped (unscaled, under 16-mixed); non-finite ones
        are dropped, so the optimizer leaves the weights (under 16-mixed the GradScaler skips that step)."""
        self.guard.clip(self._scale_left_on_gradients(optimizer), drop_nonfinite=self._scaler() is None)

    @property
    def nonfinite_skips(self) -> int:
        """Steps skipped for non-finite losses or gradients (``train/nonfinite_skips``)."""
        return self.guard.skips

    def _scaler(self) -> torch.amp.GradScaler | None:
        return getattr(self.trainer.precision_plugin, "scaler", None)  # 16-mixed only

    def _scale_left_on_gradients(self, optimizer) -> float:
        """The GradScaler's scale still on the gradients in :meth:`on_before_optimizer_step`: 1, as
        Lightning unscales them first, except for optimizers that unscale inside their step (fused AdamW)."""
        scaler = self._scaler()
        if scaler is None or not getattr(optimizer, "_step_supports_amp_scaling", False):
            return 1.0
        return scaler.get_scale()

    def _log_train(self, logs: dict, batch: dict, opt_g, opt_d) -> None:
        bs = batch["audio"].shape[0]
        self.log_dict({f"train/{k}": v.detach().float() for k, v in logs.items()}, batch_size=bs)
        if "g_mel" in logs:
            self.log("g_mel", logs["g_mel"].detach(), prog_bar=True, logger=False, batch_size=bs)
        self.log("train/lr_g", opt_g.param_groups[0]["lr"], batch_size=bs)
        self.log("train/lr_d", opt_d.param_groups[0]["lr"], batch_size=bs)
        self.log("train/nonfinite_skips", float(self.nonfinite_skips), batch_size=bs)
        self.log("train/phase", float(PHASES.index(self.phase())), batch_size=bs)
        self.log(
            "step", float(self.global_step), batch_size=bs
        )  # scalars' x-axis: optimizer steps, as media and checkpoints

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
        """Scores the batch; a conditioned generator at every conditioning id (``val/<metric>@<label>``,
        e.g. ``val/mel_l1@6kbps``), with ``val/<metric>`` their mean. Returns the audio (for media: a
        conditioned generator's at its last id, the highest bandwidth)."""
        labels = self.generator.condition_labels if getattr(self.generator, "conditions", 0) else [None]
        for i, label in enumerate(labels):
            step_batch = batch if label is None else {**batch, "condition": torch.tensor([i])}
            audio_hat = self._validate(step_batch, label)
        out = {"audio": batch["audio"].detach(), "audio_hat": audio_hat.detach()}
        fe = self.generator.feature_extractor
        if batch_idx == 0 and hasattr(fe, "decode_codes") and "features" not in batch:
            # the codec's own decoder at the same bandwidth: the baseline the media log beside ours
            codes = fe.codes(batch["audio"].float(), len(labels) - 1)
            out["audio_baseline"] = match_length(fe.decode_codes(codes), batch["audio"].shape[-1]).detach()
        return out

    def _validate(self, batch: dict, label: str | None) -> torch.Tensor:
        audio = batch["audio"]
        audio_hat = self.generate(batch)
        # items of weight 0 pad a rank's share (EvalSampler): computed, never scored
        keep = (batch["weight"] > 0).to(audio.device) if "weight" in batch else slice(None)
        ref_kept, hat_kept = audio[keep], audio_hat[keep]

        def update(values: dict, weight: float = 1.0) -> None:
            self._val_acc.update(values, weight=weight)
            if label is not None:  # a conditioned generator: its mean over ids under the plain name too
                self._val_acc.update({f"{k}@{label}": v for k, v in values.items()}, weight=weight)

        if len(ref_kept):  # the mel loss is a mean over equal-length items: weighted by their count
            update({"mel_l1": self.mel_loss(hat_kept, ref_kept)}, weight=len(ref_kept))
        names = self._metrics_now()
        # the metrics' own networks (CREPE, UTMOS) in fp32 whatever the training precision: comparable
        # numbers, and CREPE's probabilities go through numpy, which has no bfloat16
        with torch.autocast(device_type=audio.device.type, enabled=False):
            if (
                self.utmos is not None and not self.trainer.sanity_checking and len(hat_kept)
            ):  # local weights only
                for v in self.utmos.score(hat_kept, self.sample_rate).tolist():
                    update({"utmos": v})
            if names:
                ref, hat = ref_kept.float().cpu().numpy(), hat_kept.float().cpu().numpy()
                for r, h in zip(ref, hat):
                    update(compute_metrics(r, h, self.sample_rate, names, self.metric_options))
        return audio_hat

    def on_validation_epoch_end(self) -> None:
        # means over every scored item of every rank (each file once): all ranks log the same values
        means = self._val_acc.reduce()
        for k, v in means.items():
            self.log(f"val/{k}", float(v), sync_dist=False, prog_bar=k == "mel_l1")
        if means:
            self.log("step", float(self.global_step), sync_dist=False)

    # -- checkpoints -----------------------------------------------------------------------

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        ours = checkpoint.setdefault("vocoder_train", {})
        ours.update(
            config=self.stored_config(), nonfinite_skips=self.nonfinite_skips, **self.phases.state_dict()
        )

    def stored_config(self) -> dict | None:
        """The run config a checkpoint keeps, with what the front end needs to be built without the
        training machine's files (a transformers codec's config: ``stored_init_args``)."""
        stored = getattr(self.generator.feature_extractor, "stored_init_args", None)
        if self.run_config is None or stored is None:
            return self.run_config
        model = dict(self.run_config.get("model") or {})
        generator = dict(model.get("generator") or {})
        generator["feature_extractor"] = {**dict(generator.get("feature_extractor") or {}), **stored()}
        return {**self.run_config, "model": {**model, "generator": generator}}

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        # runs before Lightning's strict load: checkpoints that saved windows/filterbanks still resume
        checkpoint["state_dict"] = drop_derived(checkpoint["state_dict"], self)
        ours = checkpoint.get("vocoder_train", {})
        self.guard.skips = int(ours.get("nonfinite_skips", 0))
        self.phases.load_state_dict(ours)
