"""The one place that reads audio and resamples it.

Everything that decodes a file goes through :func:`load_audio` (whole file via
``torchaudio.load``, or a partial read via torchcodec's ``AudioDecoder``, which is what
``torchaudio.load`` itself uses since torchaudio 2.9) and everything that changes a
sample rate goes through :func:`resample`, which caches one windowed-sinc kernel per
``(orig, new)`` pair.

PCM and IEEE-float WAV files are read with torchcodec's ``WavDecoder`` instead (same samples,
bit for bit): opening a file with FFmpeg costs ~8 ms, which dominated a training item;
``WavDecoder`` opens and seeks in ~0.1 ms. Other WAV codings (mu-law, ADPCM, ...) go through FFmpeg.

Resampling defaults to a Kaiser-windowed sinc with a wide filter ("high" quality):
torchaudio's default kernel (Hann, width 6, rolloff 0.99) lets tones near the new
Nyquist alias back and measures about 27 dB SNR on tones up to 10.5 kHz for
44.1 -> 24 kHz; the "high" kernel keeps >= 60 dB below 0.9 x the new Nyquist.
Its cost is a longer convolution (measured in ``benchmarks/``), paid once per item.
"""

from __future__ import annotations

import functools
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torchaudio

AUDIO_EXTENSIONS = (".wav", ".flac", ".mp3", ".ogg", ".opus", ".m4a", ".aac", ".aiff", ".aif")

# Resampling kernels: name -> kwargs of torchaudio.functional.resample.
# "high" is the Kaiser "best" design (beta and rolloff from the torchaudio resampling tutorial).
RESAMPLE_QUALITY: dict[str, dict] = {
    "high": dict(
        lowpass_filter_width=64,
        rolloff=0.9475937167399596,
        resampling_method="sinc_interp_kaiser",
        beta=14.769656459379492,
    ),
    "fast": dict(lowpass_filter_width=16, rolloff=0.85, resampling_method="sinc_interp_kaiser", beta=8.555),
    "torchaudio_default": dict(lowpass_filter_width=6, rolloff=0.99, resampling_method="sinc_interp_hann"),
}


class AudioReadError(RuntimeError):
    """A file could not be opened or decoded. The message names the file."""


@dataclass(frozen=True)
class AudioInfo:
    """What a header probe says about a file (no full decode).

    ``num_frames`` comes from the container's duration; for compressed formats
    (MP3, OGG) it can be off by a few frames until the file is decoded.
    """

    path: str
    sample_rate: int
    num_channels: int
    num_frames: int
    duration: float
    codec: str

    def to_dict(self) -> dict:
        return asdict(self)


def is_audio_file(path: str | os.PathLike) -> bool:
    return str(path).lower().endswith(AUDIO_EXTENSIONS)


def _decoder(path: str | os.PathLike):
    """torchcodec's ``WavDecoder`` for PCM/float WAV, else its FFmpeg-backed ``AudioDecoder``."""
    from torchcodec.decoders import AudioDecoder, WavDecoder

    p = Path(path)
    if not p.is_file():
        raise AudioReadError(f"{p}: no such file (was it moved or deleted after vocoder-prepare?)")
    if p.suffix.lower() == ".wav":
        try:
            return WavDecoder(str(p))
        except Exception:  # a WAV coding it does not read (mu-law, ADPCM, ...), or a broken header
            pass
    try:
        return AudioDecoder(str(p))
    except Exception as e:  # torchcodec raises RuntimeError/ValueError with FFmpeg's words
        raise AudioReadError(f"{p}: cannot be opened as audio ({e})") from e


def probe(path: str | os.PathLike) -> AudioInfo:
    """Reads the header of ``path``: sample rate, channels, length. Raises :class:`AudioReadError`."""
    meta = _decoder(path).metadata
    if not meta.sample_rate or not meta.num_channels:
        raise AudioReadError(f"{path}: no audio stream with a sample rate and channels")
    duration = float(meta.duration_seconds or meta.duration_seconds_from_header or 0.0)
    return AudioInfo(
        path=str(path),
        sample_rate=int(meta.sample_rate),
        num_channels=int(meta.num_channels),
        num_frames=int(round(duration * meta.sample_rate)),
        duration=duration,
        codec=str(meta.codec),
    )


def load_audio(
    path: str | os.PathLike,
    sample_rate: int | None = None,
    offset: float = 0.0,
    duration: float | None = None,
    mono: bool = True,
    quality: str = "high",
) -> tuple[torch.Tensor, int]:
    """Decodes ``path`` (or the part ``[offset, offset + duration)`` seconds of it).

    Args:
        path: any format FFmpeg decodes (WAV, FLAC, MP3, OGG, ...).
        sample_rate: resample to this rate; None keeps the file's rate.
        offset: start of the partial read in seconds; only the needed packets are decoded.
        duration: length of the partial read in seconds; None reads to the end.
        mono: average the channels.
        quality: resampling kernel, a key of :data:`RESAMPLE_QUALITY`.

    Returns:
        (audio, rate): float32 tensor ``(C, T)`` (``C == 1`` when mono) in [-1, 1], and its rate.
    """
    try:
        whole = offset <= 0.0 and duration is None
        if whole and not str(path).lower().endswith(".wav"):
            audio, sr = torchaudio.load(str(path))
        else:  # partial reads, and WAV (whose fast decoder _decoder picks)
            dec = _decoder(path)
            sr = int(dec.metadata.sample_rate)
            stop = None if duration is None else offset + duration
            audio = (
                dec.get_all_samples()
                if whole
                else dec.get_samples_played_in_range(start_seconds=max(offset, 0.0), stop_seconds=stop)
            ).data
    except AudioReadError:
        raise
    except Exception as e:
        if not Path(path).is_file():
            raise AudioReadError(
                f"{path}: no such file (was it moved or deleted after vocoder-prepare?)"
            ) from e
        raise AudioReadError(f"{path}: cannot be decoded ({e})") from e
    return _to_rate(audio, sr, sample_rate, mono, quality)


def decode_audio_bytes(
    data: bytes, name: str, sample_rate: int | None = None, mono: bool = True, quality: str = "high"
) -> tuple[torch.Tensor, int]:
    """Decodes the bytes of an audio file held in memory (a shard's original file), as :func:`load_audio`.

    ``name`` says where the bytes came from in the :class:`AudioReadError` that a failure raises."""
    from torchcodec.decoders import AudioDecoder

    try:
        dec = AudioDecoder(data)
        sr = int(dec.metadata.sample_rate)
        audio = dec.get_all_samples().data
    except Exception as e:  # torchcodec raises RuntimeError/ValueError with FFmpeg's words
        raise AudioReadError(f"{name}: cannot be decoded ({e})") from e
    return _to_rate(audio, sr, sample_rate, mono, quality)


def _to_rate(
    audio: torch.Tensor, sr: int, sample_rate: int | None, mono: bool, quality: str
) -> tuple[torch.Tensor, int]:
    audio = audio.float()
    if mono and audio.shape[0] > 1:
        audio = audio.mean(dim=0, keepdim=True)
    if sample_rate is not None and sample_rate != sr:
        audio = resample(audio, sr, sample_rate, quality=quality)
        sr = sample_rate
    return audio, sr


@functools.lru_cache(maxsize=32)
def _resampler(orig: int, new: int, quality: str) -> torchaudio.transforms.Resample:
    if quality not in RESAMPLE_QUALITY:
        raise ValueError(f"resample quality {quality!r} is not one of {sorted(RESAMPLE_QUALITY)}")
    return torchaudio.transforms.Resample(orig, new, **RESAMPLE_QUALITY[quality])


def resample(audio: torch.Tensor, orig: int, new: int, quality: str = "high") -> torch.Tensor:
    """Resamples ``audio (..., T)`` from ``orig`` to ``new`` Hz with a cached kernel."""
    if orig == new:
        return audio
    g = math.gcd(int(orig), int(new))
    r = _resampler(int(orig) // g, int(new) // g, quality)
    return r.to(device=audio.device, dtype=audio.dtype)(audio)


def save_audio(path: str | os.PathLike, audio: torch.Tensor, sample_rate: int) -> None:
    """Writes ``audio (T,)`` or ``(C, T)`` as 16-bit PCM (by extension), atomically."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    if audio.dim() == 1:
        audio = audio.unsqueeze(0)
    tmp = p.with_name(f".{p.stem}.tmp{os.getpid()}{p.suffix}")
    try:
        torchaudio.save(str(tmp), audio.detach().float().cpu().clamp(-1.0, 1.0), sample_rate)
        os.replace(tmp, p)
    finally:
        if tmp.exists():
            tmp.unlink()
