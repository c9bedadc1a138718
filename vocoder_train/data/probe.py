"""Probing each file for ``vocoder-prepare``: decode it in full, measure it, digest its bytes and say why
it is rejected, in worker processes with a progress bar."""

from __future__ import annotations

import hashlib
import math
import os
import re
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

from vocoder_train.data.prepare_options import PrepareOptions

if TYPE_CHECKING:
    from vocoder_train.data.screening import Screening

# Files longer than 1.5x this are decoded in chunks of this length, so that a 3-hour stereo
# 48 kHz recording needs ~120 MB of float32 at a time (x workers) instead of ~4 GB.
CHUNK_SECONDS = 300.0
# The content digest streams the file: a long recording never sits in memory whole.
DIGEST_CHUNK_BYTES = 1 << 20


@dataclass
class FileStats:
    """What decoding a file measured; ``error`` is set when it could not be decoded."""

    path: str
    sample_rate: int = 0
    num_channels: int = 0
    num_frames: int = 0
    duration: float = 0.0
    codec: str = ""
    peak_db: float | None = None  # dBFS of the largest |sample|; None when all samples are 0
    rms_db: float | None = None
    non_finite: int = 0  # number of NaN / Inf samples
    bandwidth_hz: float | None = None  # the screening measures (vocoder_train.data.screening)
    clipped_fraction: float = 0.0
    loudness_lufs: float | None = None  # None: shorter than one 400 ms block
    size: int = 0  # bytes
    error: str | None = None
    digest: str | None = None  # blake2b of the file's bytes: equal digests mean byte-identical files
    pair: dict | None = None  # the paired file's manifest keys (--mels, --features)

    def screening(self) -> dict:
        """The screening measures, as report.json counts them and rejected.jsonl records them."""
        return dict(
            bandwidth_hz=self.bandwidth_hz,
            clipped_fraction=self.clipped_fraction,
            loudness_lufs=self.loudness_lufs,
        )

    def manifest_item(self) -> dict:
        item = dict(
            path=self.path,
            sample_rate=self.sample_rate,
            num_channels=self.num_channels,
            num_frames=self.num_frames,
            duration=self.duration,
        )
        if self.pair is not None:
            item.update(self.pair)
        return item


def _db(x: float) -> float | None:
    return 20.0 * math.log10(x) if x > 0 else None


def content_digest(path: str) -> str:
    """blake2b of the file's bytes, read in chunks of ``DIGEST_CHUNK_BYTES``."""
    h = hashlib.blake2b(digest_size=20)
    with open(path, "rb") as f:
        while chunk := f.read(DIGEST_CHUNK_BYTES):
            h.update(chunk)
    return h.hexdigest()


def measure(path: str) -> FileStats:
    """Decodes ``path`` in full, measures it and digests its bytes. Never raises for a bad file: sets
    ``error``."""
    from vocoder_train.data.screening import Screening
    from vocoder_train.io.audio import AudioReadError, probe

    stats = FileStats(path=path)
    try:
        stats.size = os.path.getsize(path)
        if stats.size == 0:
            return stats
        info = probe(path)
        stats.sample_rate, stats.num_channels, stats.codec = info.sample_rate, info.num_channels, info.codec
        if info.num_frames == 0:
            return stats  # a header without audio frames: decoding it raises "no frames"
        screen = Screening(stats.sample_rate)
        peak, sumsq, frames, non_finite = _decode_stats(path, info.duration, screen)
        stats.digest = content_digest(path)  # here, in the worker: parallel like the decoding
    except AudioReadError as e:
        stats.error = str(e)
        return stats
    except Exception as e:  # a decoder failing in an unexpected way is still one bad file, not a crash
        stats.error = f"{path}: {type(e).__name__}: {e}"
        return stats
    stats.num_frames, stats.non_finite = frames, non_finite
    stats.duration = frames / stats.sample_rate
    count = frames * stats.num_channels
    stats.peak_db = _db(peak)
    stats.rms_db = _db(math.sqrt(sumsq / count)) if count else None
    stats.bandwidth_hz, stats.loudness_lufs = screen.bandwidth(), screen.loudness()
    stats.clipped_fraction = screen.clipped_fraction()
    return stats


def _decode_stats(path: str, probed_duration: float, screen: Screening) -> tuple[float, float, int, int]:
    """(peak |x| over finite samples, sum of squares, frames, non-finite count), decoded in chunks, each
    also fed to ``screen``."""
    import torch

    from vocoder_train.io.audio import AudioReadError, load_audio

    peak, sumsq, frames, non_finite, offset = 0.0, 0.0, 0, 0, 0.0
    while True:
        last = probed_duration <= CHUNK_SECONDS * 1.5 or offset + CHUNK_SECONDS >= probed_duration
        try:
            if offset == 0.0 and last:
                audio, sr = load_audio(path, mono=False)
            else:
                audio, sr = load_audio(
                    path, offset=offset, duration=None if last else CHUNK_SECONDS, mono=False
                )
        except AudioReadError:
            # The header overestimated the length (compressed formats) and the last chunk starts
            # after the real end: what was decoded so far is the whole file.
            if offset > 0.0 and last and frames >= 0.98 * probed_duration * sr:
                break
            raise
        bad = int((~torch.isfinite(audio)).sum())
        if bad:
            non_finite += bad
            audio = audio.nan_to_num(0.0, posinf=0.0, neginf=0.0)
        if audio.numel():
            peak = max(peak, float(audio.abs().max()))
        sumsq += float(audio.square().sum(dtype=torch.float64))  # float64: hours of samples
        screen.update(audio)
        frames += audio.shape[-1]
        if last:
            break
        offset += CHUNK_SECONDS
    return peak, sumsq, frames, non_finite


def short_error(message: str, path: str) -> str:
    """FFmpeg's reason without the file name (it is in the record already) or C++ source locations."""
    message = message.replace(f"{path}: ", "", 1).replace(f" {path}", "").replace(path, "the file")
    return re.sub(r"\w+, /\S+\.(?:cpp|h):\d+, ", "", message)


def classify(stats: FileStats, opts: PrepareOptions) -> tuple[str, str] | None:
    """(reason, message) when the file is rejected, None when it is good."""
    if stats.error is not None:
        return "unreadable", short_error(stats.error, stats.path)
    if stats.size == 0:
        return "empty", "file is 0 bytes"
    if stats.num_frames == 0:
        return "empty", f"no audio frames ({stats.codec}, {stats.sample_rate} Hz header only)"
    if stats.duration < opts.min_duration:
        return "too_short", f"{stats.duration:.3f} s is shorter than --min-duration {opts.min_duration:g} s"
    if opts.max_duration is not None and stats.duration > opts.max_duration:
        return (
            "too_long",
            f"{stats.duration:.1f} s is longer than --max-duration {opts.max_duration:g} s (split it?)",
        )
    if stats.non_finite:
        return "non_finite", f"{stats.non_finite} NaN/Inf samples"
    if stats.peak_db is None or stats.peak_db < opts.silence_db:
        peak = "-inf (all samples are 0)" if stats.peak_db is None else f"{stats.peak_db:.1f}"
        return "silent", f"peak {peak} dBFS is below --silence-db {opts.silence_db:g}"
    return screen(stats, opts)


def screen(stats: FileStats, opts: PrepareOptions) -> tuple[str, str] | None:
    """(reason, message) when a decoded, non-silent file fails a screening threshold, else None."""
    floor, bandwidth = opts.bandwidth_floor, stats.bandwidth_hz
    if floor and bandwidth is not None and bandwidth < floor:
        return (
            "low_bandwidth",
            f"no content above {bandwidth / 1000:.1f} kHz (upsampled or low-passed?), below --min-bandwidth "
            f"{floor:g} Hz",
        )
    if opts.max_clipping is not None and stats.clipped_fraction > opts.max_clipping:
        return (
            "clipped",
            f"{stats.clipped_fraction:.3%} of samples are in clipped runs at full scale, above "
            f"--max-clipping {opts.max_clipping:g}",
        )
    loudness = stats.loudness_lufs  # None for a file shorter than one 400 ms block: not screened
    if opts.min_loudness is not None and loudness is not None and loudness < opts.min_loudness:
        return (
            "too_quiet",
            f"integrated loudness {loudness:.1f} LUFS is below --min-loudness {opts.min_loudness:g}",
        )
    return None


def _init_worker() -> None:
    import torch

    # One thread a worker: the pool is the parallelism, and (as in torch's DataLoader workers) a
    # forked child must not enter the OpenMP pool its parent may have started.
    torch.set_num_threads(1)


def measure_all(paths: list[str], workers: int = 1, progress: bool = True) -> list[FileStats]:
    """:func:`measure` on each path, in order, with ``workers`` processes and a progress bar."""
    from tqdm import tqdm

    def bar():
        return tqdm(
            total=len(paths), desc="probing", unit="file", file=sys.stderr, disable=not progress or not paths
        )

    if workers <= 1 or len(paths) < 2:
        return _track(map(measure, paths), bar())
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # fork where there is fork: a spawned worker re-imports torch + torchaudio, seconds each
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    ctx = multiprocessing.get_context(method)
    chunk = max(1, min(16, len(paths) // (4 * workers)))
    with ProcessPoolExecutor(min(workers, len(paths)), mp_context=ctx, initializer=_init_worker) as pool:
        results = pool.map(measure, paths, chunksize=chunk)  # forks now, before tqdm starts its thread
        return _track(results, bar())


def _track(results, bar) -> list[FileStats]:
    out = []
    with bar:
        for stats in results:
            out.append(stats)
            bar.update()
    return out
