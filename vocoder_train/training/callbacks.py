"""Callbacks: throughput, data health, EMA, progress and the final checkpoint. Validation media:
:mod:`vocoder_train.training.media`; the Weights & Biases logger: :mod:`vocoder_train.training.loggers`."""

from __future__ import annotations

import time
from pathlib import Path

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import TQDMProgressBar

from vocoder_train.io.buffers import drop_derived
from vocoder_train.training.schedules import time_budget


class Throughput(pl.Callback):
    """Logs ``perf/samples_per_s`` (items) and ``perf/audio_s_per_s`` (seconds of audio) per step."""

    def __init__(self):
        self._t0: float | None = None

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self._t0 = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self._t0 is None:
            return
        dt = max(time.perf_counter() - self._t0, 1e-9)
        audio = batch["audio"]
        bs = audio.shape[0]
        pl_module.log("perf/samples_per_s", bs / dt, batch_size=bs)
        pl_module.log("perf/audio_s_per_s", audio.numel() / pl_module.sample_rate / dt, batch_size=bs)
        pl_module.log("perf/step_s", dt, batch_size=bs)


class DataHealth(pl.Callback):
    """Counts what the training data did, from each batch's flags, on every rank:

    - ``data/skipped``: unreadable or non-finite files that the dataset replaced by another
      (``skipped``, ``skipped_path``); past ``max_skipped_files`` the run stops, naming them;
    - ``data/mel_frames_fixed``: teacher-forced pairs (mels or other features) whose frame count was
      trimmed or padded (``frames_fixed``);
    - ``data/mix_<name>``: with ``data.sources``, the share of the items each corpus supplied so
      far (by the index of the item actually loaded), every ``mix_every_n_steps`` batches.

    The totals are kept in checkpoints, so a resumed run goes on counting.

    Args:
        max_skipped_files (int): skipped reads tolerated before the run stops.
        mix_every_n_steps (int): batches between ``data/mix_<name>`` logs.
    """

    def __init__(self, max_skipped_files: int, mix_every_n_steps: int):
        self.max_skipped_files = int(max_skipped_files)
        self.mix_every = max(1, int(mix_every_n_steps))
        self.skipped_files: list[str] = []
        self.mel_frames_fixed = 0
        self.mix_counts: dict[str, int] = {}

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        bs = batch["audio"].shape[0]
        if "skipped" in batch:
            pl_module.log("data/skipped", batch["skipped"].sum().float(), reduce_fx="sum", batch_size=bs)
            self._count_skipped(batch["skipped"].tolist(), batch.get("skipped_path", []))
        if "frames_fixed" in batch:
            fixed = batch["frames_fixed"].sum()
            self.mel_frames_fixed += int(fixed)
            pl_module.log("data/mel_frames_fixed", fixed.float(), reduce_fx="sum", batch_size=bs)
        data = getattr(trainer.datamodule, "data", None)  # the VocoderData behind VocoderDataModule
        if data is not None and "index" in batch:
            for name in data.source_names(batch["index"]):
                self.mix_counts[name] = self.mix_counts.get(name, 0) + 1
        total = sum(self.mix_counts.values())
        if total and batch_idx % self.mix_every == 0:
            pl_module.log_dict({f"data/mix_{k}": v / total for k, v in self.mix_counts.items()}, batch_size=1)

    def _count_skipped(self, counts: list, paths: list[str]) -> None:
        for n, path in zip(counts, paths):
            self.skipped_files.extend([path] * int(n))
        if len(self.skipped_files) > self.max_skipped_files:
            names = sorted(set(self.skipped_files))
            raise RuntimeError(
                f"{len(self.skipped_files)} reads of unreadable/NaN training files (limit max_skipped_files="
                f"{self.max_skipped_files}); first ones: {', '.join(names[:10])}. Re-run vocoder-prepare "
                "on the corpus (it rejects such files) or raise max_skipped_files"
            )

    def state_dict(self) -> dict:
        return {
            "skipped_files": list(self.skipped_files),
            "mel_frames_fixed": self.mel_frames_fixed,
            "mix_counts": dict(self.mix_counts),
        }

    def load_state_dict(self, state_dict: dict) -> None:
        self.skipped_files = list(state_dict.get("skipped_files", []))
        self.mel_frames_fixed = int(state_dict.get("mel_frames_fixed", 0))
        self.mix_counts = {k: int(v) for k, v in state_dict.get("mix_counts", {}).items()}


class GeneratorEMA(pl.Callback):
    """Exponential moving average of the generator's weights.

    The average is updated after every generator step from ``start_iteration`` on, used for
    validation when ``evaluate`` (so ``val/*`` and the best checkpoint reflect it), and stored in
    checkpoints under ``vocoder_train.ema_generator``, where ``vocoder-export --ema`` finds it.

    Args:
        decay (float): weight of the old average per update (0.999: a horizon of ~1000 steps).
        start_iteration (int): iterations before averaging starts (the average is a copy until then).
        evaluate (bool): validate with the EMA weights.
    """

    def __init__(self, decay: float = 0.999, start_iteration: int = 0, evaluate: bool = True):
        if not 0.0 < decay < 1.0:
            raise ValueError(f"callbacks.ema.decay={decay}: must be in (0, 1)")
        self.decay, self.start_iteration, self.evaluate = decay, start_iteration, evaluate
        self.ema: dict[str, torch.Tensor] | None = None
        self._backup: dict[str, torch.Tensor] | None = None

    def _init(self, pl_module) -> None:
        if self.ema is None:
            self.ema = {k: v.detach().clone() for k, v in pl_module.generator.state_dict().items()}

    def on_fit_start(self, trainer, pl_module) -> None:
        self._init(pl_module)
        self.ema = {k: v.to(pl_module.device) for k, v in self.ema.items()}

    @torch.no_grad()
    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        decay = self.decay if pl_module.iteration > self.start_iteration else 0.0
        for k, v in pl_module.generator.state_dict().items():
            if v.dtype.is_floating_point:
                self.ema[k].mul_(decay).add_(v.detach(), alpha=1.0 - decay)
            else:
                self.ema[k].copy_(v)

    def on_validation_epoch_start(self, trainer, pl_module) -> None:
        if self.evaluate and self.ema is not None and not trainer.sanity_checking:
            self._backup = {k: v.detach().clone() for k, v in pl_module.generator.state_dict().items()}
            pl_module.generator.load_state_dict(self.ema)

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        if self._backup is not None:
            pl_module.generator.load_state_dict(self._backup)
            self._backup = None

    def on_save_checkpoint(self, trainer, pl_module, checkpoint: dict) -> None:
        self._init(pl_module)
        checkpoint.setdefault("vocoder_train", {})["ema_generator"] = {
            k: v.cpu() for k, v in self.ema.items()
        }

    def on_load_checkpoint(self, trainer, pl_module, checkpoint: dict) -> None:
        state = checkpoint.get("vocoder_train", {}).get("ema_generator")
        if state is not None:  # checkpoints that saved windows/filterbanks: the generator rebuilds those
            self.ema = {k: v.clone() for k, v in drop_derived(state, pl_module.generator).items()}


def format_duration(seconds: float) -> str:
    seconds = int(max(0.0, seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s"


class ProgressBar(TQDMProgressBar):
    """Lightning's tqdm bar plus the run's ETA (to ``trainer.max_steps`` or ``max_time``, whichever
    comes first), the training phase and seconds of audio per second."""

    def __init__(self, refresh_rate: int = 10, smoothing: float = 0.9):
        super().__init__(refresh_rate=refresh_rate)
        self.smoothing = smoothing
        self._last: tuple[float, int] | None = None
        self._rate: float | None = None  # optimizer steps per second, smoothed

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        now, step = time.perf_counter(), trainer.global_step
        if self._last is not None and step > self._last[1]:
            rate = (step - self._last[1]) / max(now - self._last[0], 1e-9)
            self._rate = (
                rate if self._rate is None else self.smoothing * self._rate + (1 - self.smoothing) * rate
            )
        self._last = (now, step)
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)

    def eta_seconds(self, trainer) -> float | None:
        candidates = []
        if self._rate and trainer.max_steps and trainer.max_steps > 0:
            candidates.append((trainer.max_steps - trainer.global_step) / self._rate)
        budget = time_budget(trainer)
        if budget is not None:
            candidates.append(budget[1])
        return min(candidates) if candidates else None

    def get_metrics(self, trainer, pl_module) -> dict:
        items = super().get_metrics(trainer, pl_module)
        items.pop("v_num", None)
        eta = self.eta_seconds(trainer)
        if eta is not None:
            items["eta"] = format_duration(eta)
        if hasattr(pl_module, "phase"):
            items["phase"] = pl_module.phase()
        return items


class FinalCheckpoint(pl.Callback):
    """Saves ``<dirpath>/last.ckpt`` when training ends, so the last iterations are never lost."""

    def __init__(self, dirpath: str):
        self.dirpath = Path(dirpath)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        trainer.save_checkpoint(self.dirpath / "last.ckpt", weights_only=False)
