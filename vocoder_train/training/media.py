"""Validation media to the loggers: audio and log-mel images of the first validation items.

:class:`MediaLogger` (the ``media`` callback of ``configs/callbacks/default.yaml``) builds a
:class:`Media` per validation run; :func:`media_writers` gives each logger that takes media its
writer: TensorBoard (audio and figures), Weights & Biases (``log_audio`` / ``log_image``) and CSV
(files under ``<its log_dir>/media``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.loggers import CSVLogger, Logger, TensorBoardLogger, WandbLogger
from pytorch_lightning.utilities import rank_zero_only

from vocoder_train.dsp import safe_log
from vocoder_train.io.audio import save_audio


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
                if "audio_baseline" in outputs:  # a codec model: the codec's own decoder, the comparison
                    media.audio[f"val/audio_{i}/codec_decoder"] = (
                        outputs["audio_baseline"][i].float().cpu().numpy()
                    )
            media.audio[f"val/audio_{i}/prediction"] = outputs["audio_hat"][i].float().cpu().numpy()
            media.figures[f"val/mel_{i}"] = mel_figure(
                [mel_t[i], mel_p[i], mel_p[i] - mel_t[i]],
                ["target log-mel", f"prediction log-mel (step {step})", "difference (prediction - target)"],
                sr,
                hop,
            )
        return media
