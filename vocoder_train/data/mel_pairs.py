"""Pairing the good files of ``vocoder-prepare --mels`` with their teacher-forced mels, rejecting those
without a fitting one."""

from __future__ import annotations

import os
from pathlib import Path

from vocoder_train.data.prepare_options import PrepareOptions
from vocoder_train.data.probe import FileStats, short_error


def mel_path_for(audio_path: str, root: str, mel_dir: str) -> Path:
    """``mel_dir/<relative path>.npy`` when it exists, else ``mel_dir/<stem>.npy``."""
    rel = Path(os.path.relpath(audio_path, root)).with_suffix(".npy")
    nested = Path(mel_dir) / rel
    return nested if nested.is_file() or rel.parent == Path(".") else Path(mel_dir) / rel.name


def check_mel(stats: FileStats, mel_path: Path, opts: PrepareOptions) -> tuple[str, str] | int:
    """The mel's frame count, or (reason, message) when it does not fit ``stats``' audio."""
    from vocoder_train.data import mel_dataset as md
    from vocoder_train.dsp import expected_frames

    try:
        mel = md.load_mel(mel_path, opts.n_mels)
        samples = md.resampled_length(stats.num_frames, stats.sample_rate, opts.sample_rate)
        expected = expected_frames(samples, opts.hop_length, opts.n_fft, opts.mel_padding)
        md.check_frames(mel.shape[1], expected, opts.max_frame_mismatch, str(mel_path), stats.path)
    except md.MelMismatchError as e:
        return e.reason, short_error(str(e), str(mel_path))
    return int(mel.shape[1])


def pair_mels(good: list[FileStats], root: str, opts: PrepareOptions) -> tuple[list[FileStats], list[dict]]:
    """Good files that have a fitting mel (``mel`` set), and rejection records for the others."""
    kept, rejected = [], []
    for stats in good:
        mel_path = mel_path_for(stats.path, root, opts.mels)
        verdict = check_mel(stats, mel_path, opts)
        if isinstance(verdict, int):
            stats.mel, stats.mel_frames = str(mel_path.resolve()), verdict
            kept.append(stats)
        else:
            rejected.append(dict(path=stats.path, reason=verdict[0], message=verdict[1], mel=str(mel_path)))
    return kept, rejected
