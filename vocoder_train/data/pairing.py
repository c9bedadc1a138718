"""Pairing the good files of ``vocoder-prepare --mels`` / ``--features`` with their precomputed mels or
features, rejecting those without a fitting one."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

from vocoder_train.data.pair_kinds import MEL
from vocoder_train.data.prepare_options import PrepareOptions
from vocoder_train.data.probe import FileStats, short_error


def pair_path_for(audio_path: str, root: str, folder: str) -> Path:
    """``folder/<relative path>.npy`` when it exists, else ``folder/<stem>.npy``."""
    rel = Path(os.path.relpath(audio_path, root)).with_suffix(".npy")
    nested = Path(folder) / rel
    return nested if nested.is_file() or rel.parent == Path(".") else Path(folder) / rel.name


def frame_grid(opts: PrepareOptions) -> tuple[int, int, str]:
    """(hop, n_fft, padding) of the frames the paired files must have: the vocoder's mel front end
    for --mels, the grid of --frame-rate for --features (``T // hop`` frames)."""
    from vocoder_train.data.pair_dataset import feature_grid
    from vocoder_train.dsp import frame_hop

    if opts.pair_kind is MEL:
        return opts.hop_length, opts.n_fft, opts.mel_padding
    hop = frame_hop(opts.sample_rate, opts.frame_rate)
    return (hop, *feature_grid(hop))


def common_channels(paths: list[Path], opts: PrepareOptions) -> int | None:
    """The most common channel count among the readable feature files (the first seen on a tie)."""
    from vocoder_train.data import pair_dataset as pd

    counts: Counter = Counter()
    for path in paths:
        try:
            counts[pd.load_features(path, mmap=True, kind=opts.pair_kind).shape[0]] += 1
        except pd.PairMismatchError:
            continue
    return counts.most_common(1)[0][0] if counts else None


def check_pair(
    stats: FileStats, path: Path, opts: PrepareOptions, channels: int | None, expected: str
) -> tuple[str, str] | int:
    """The paired file's frame count, or (reason, message) when it does not fit ``stats``' audio."""
    from vocoder_train.data import pair_dataset as pd
    from vocoder_train.dsp import expected_frames

    kind = opts.pair_kind
    try:
        x = pd.load_features(path, channels, kind=kind, expected=expected)
        samples = pd.resampled_length(stats.num_frames, stats.sample_rate, opts.sample_rate)
        frames = expected_frames(samples, *frame_grid(opts))
        pd.check_frames(x.shape[1], frames, opts.max_frame_mismatch, str(path), stats.path, kind)
    except pd.PairMismatchError as e:
        return e.reason, short_error(str(e), str(path))
    return int(x.shape[1])


def pair_files(
    good: list[FileStats], root: str, opts: PrepareOptions
) -> tuple[list[FileStats], list[dict], int | None]:
    """Good files that have a fitting paired file (``pair`` set: its manifest keys), rejection records
    for the others, and the channel count the paired files must have (--n-mels for mels; for features
    --channels, else the most common one)."""
    kind = opts.pair_kind
    paths = [pair_path_for(s.path, root, opts.mels or opts.features) for s in good]
    if kind is MEL:
        channels, expected = opts.n_mels, "the model takes"
    elif opts.channels is not None:
        channels, expected = opts.channels, "--channels is"
    else:
        channels, expected = common_channels(paths, opts), "the other feature files have"
    extra = {} if kind is MEL else {"frame_rate": opts.frame_rate}
    kept, rejected = [], []
    for stats, path in zip(good, paths):
        verdict = check_pair(stats, path, opts, channels, expected)
        if isinstance(verdict, int):
            stats.pair = {kind.key: str(path.resolve()), f"{kind.key}_frames": verdict, **extra}
            kept.append(stats)
        else:
            rejected.append(
                {"path": stats.path, "reason": verdict[0], "message": verdict[1], kind.key: str(path)}
            )
    return kept, rejected, channels
