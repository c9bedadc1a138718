"""Callbacks: media to the loggers, throughput, data health, EMA, progress and the final checkpoint;
the Weights & Biases logger that ``configs/logger/wandb.yaml`` builds."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import TQDMProgressBar
from pytorch_lightning.loggers import CSVLogger, Logger, TensorBoardLogger, WandbLogger
from pytorch_lightning.utilities import rank_zero_only

from vocoder_train.dsp import safe_log
from vocoder_train.io.audio import save_audio
from vocoder_train.io.buffers import drop_derived
from vocoder_train.training.schedules import time_budget


@dataclass
class Media:
    """What one validation logs: waveforms and figures by tag (``val/audio_0/prediction``, ``val/mel_0``)."""

    step: int
    sample_rate: int
    audio: dict[str, np.ndarray]  # tag -> (T,) float32 in [-1, 1]
    figures: dict  # tag -> matplotlib Figure


def _to_tensorboard(logger: TensorBoardLogger, media: Media) -> None:
    tb = logger.experiment
    for tag, wav in media.audio.items():
        tb.add_audio(tag, torch.from_numpy(wav).unsqueeze(0), media.step, media.sample_rate)
    for tag, fig in media.figures.items():
        tb.add_figure(tag, fig, media.step, close=False)


def _to_wandb(logger: WandbLogger, media: Media) -> None:
    for tag, wav in media.audio.items():
        logger.log_audio(tag, [wav], step=media.step, sample_rate=[media.sample_rate])
    for tag, fig in media.figures.items():
        logger.log_image(tag, [figure_rgb(fig)], step=media.step)


def _to_files(folder: Path, media: Media) -> None:
    """``<folder>/<tag>/step_<step>.wav`` and ``.png``: loggers without media support (CSV) get files."""
    name = f"step_{media.step:08d}"
    for tag, wav in media.audio.items():
        save_audio(folder / tag / f"{name}.wav", torch.from_numpy(wav), media.sample_rate)
    for tag, fig in media.figures.items():
        (folder / tag).mkdir(parents=True, exist_ok=True)
        fig.savefig(folder / tag / f"{name}.png", dpi=100)


def media_writers(loggers: Sequence[Logger]) -> list[Callable[[Media], None]]:
    """One writer per logger that can take media: TensorBoard (audio and figures), Weights & Biases
    (``log_audio`` / ``log_image``) and CSV (files under ``<its log_dir>/media``). Others get scalars only."""
    writers: list[Callable[[Media], None]] = []
    for lg in loggers:
        if isinstance(lg, TensorBoardLogger):
            writers.append(partial(_to_tensorboard, lg))
        elif isinstance(lg, WandbLogger):
            writers.append(partial(_to_wandb, lg))
        elif isinstance(lg, CSVLogger):
            writers.append(partial(_to_files, Path(lg.log_dir) / "media"))
    return writers


def figure_rgb(fig) -> np.ndarray:
    """A rendered matplotlib figure as (H, W, 3) uint8."""
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()


class ScopedWandbLogger(WandbLogger):
    """Lightning's ``WandbLogger`` whose W&B run ends with the fit. Lightning's leaves the run open
    until the process exits, so the next ``train()`` in the same process (Hydra's sequential
    multirun, tests) would log into it. Arguments: Lightning's (``offline``, ``project``, ``name``, ...)."""

    @rank_zero_only
    def finalize(self, status: str) -> None:
        super().finalize(status)
        run = self._experiment  # None when nothing was logged: there is no run to end
        if run is not None:
            run.finish(exit_code=1 if status == "failed" else 0)


def mel_figure(mels: list[np.ndarray], titles: list[str], sample_rate: int, hop_length: int):
    """A figure with one log-mel image per row (the last may be a signed difference)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(mels), 1, figsize=(10, 2.4 * len(mels)), squeeze=False)
    vmin, vmax = min(m.min() for m in mels[:2]), max(m.max() for m in mels[:2])
    for ax, mel, title in zip(axes[:, 0], mels, titles):
        seconds = mel.shape[1] * hop_length / sample_rate
        diff = title.startswith("difference")
        im = ax.imshow(
            mel,
            origin="lower",
            aspect="auto",
            interpolation="none",
            extent=(0, seconds, 0, mel.shape[0]),
            cmap="coolwarm" if diff else "magma",
            vmin=-np.abs(mel).max() if diff else vmin,
            vmax=np.abs(mel).max() if diff else vmax,
        )
        ax.set_title(title, fontsize=9)
        ax.set_ylabel("mel bin")
        fig.colorbar(im, ax=ax, pad=0.01)
    axes[-1, 0].set_xlabel("seconds")
    fig.tight_layout()
    return fig


class MediaLogger(pl.Callback):
    """Logs validation audio (target once, prediction every time) and target / prediction /
    difference log-mel images for the first ``num_samples`` items of the first val batch, to every
    logger that takes media (:func:`media_writers`).

    Args:
        num_samples (int): items to log.
        every_n_validations (int): log on every n-th validation run.
    """

    def __init__(self, num_samples: int = 2, every_n_validations: int = 1):
        self.num_samples = num_samples
        self.every = max(1, every_n_validations)
        self._validations = 0
        self._target_logged = False

    def on_validation_epoch_start(self, trainer, pl_module) -> None:
        self._validations += 1

    @rank_zero_only
    def on_validation_batch_end(
        self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0
    ) -> None:
        if batch_idx != 0 or trainer.sanity_checking or (self._validations - 1) % self.every:
            return
        writers = media_writers(trainer.loggers)
        if not writers or not outputs:
            return
        media = self._media(trainer.global_step, pl_module, outputs)
        try:
            for write in writers:
                write(media)
        finally:
            import matplotlib.pyplot as plt

            for fig in media.figures.values():
                plt.close(fig)
        self._target_logged = True

    def _media(self, step: int, pl_module, outputs: dict) -> Media:
        sr = pl_module.sample_rate
        hop = int(pl_module.mel_loss.mel_spec.hop_length)  # the images are the loss's mels (any front end)
        n = min(self.num_samples, outputs["audio"].shape[0])
        with torch.no_grad():
            mel_t = safe_log(pl_module.mel_loss.mel(outputs["audio"][:n])).cpu().numpy()
            mel_p = safe_log(pl_module.mel_loss.mel(outputs["audio_hat"][:n])).cpu().numpy()
        media = Media(step, sr, {}, {})
        for i in range(n):
            if not self._target_logged:
                media.audio[f"val/audio_{i}/target"] = outputs["audio"][i].float().cpu().numpy()
            media.audio[f"val/audio_{i}/prediction"] = outputs["audio_hat"][i].float().cpu().numpy()
            media.figures[f"val/mel_{i}"] = mel_figure(
                [mel_t[i], mel_p[i], mel_p[i] - mel_t[i]],
                ["target log-mel", f"prediction log-mel (step {step})", "difference (prediction - target)"],
                sr,
                hop,
            )
        return media


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
    - ``data/mel_frames_fixed``: teacher-forced pairs whose mel frame count was trimmed or padded;
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
        if "mel_fixed" in batch:
            fixed = batch["mel_fixed"].sum()
            self.mel_frames_fixed += int(fixed)
            pl_module.log("data/mel_frames_fixed", fixed.float(), reduce_fx="sum", batch_size=bs)
        data = getattr(trainer.datamodule, "data", None)  # the VocoderDataModule behind LightningData
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
