"""The settings of :class:`~vocoder_train.data.loaders.VocoderData`, grouped by what reads them together.

Each field has the name of its ``data.<key>`` in the config (configs/data/default.yaml), which
:meth:`VocoderData.from_config <vocoder_train.data.loaders.VocoderData.from_config>` maps onto these.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass


def _coerce(options, **kinds: Callable) -> None:
    """Frozen ``options``' fields converted in place (``name=int``): configs may give 16.0 or a list."""
    for name, kind in kinds.items():
        object.__setattr__(options, name, kind(getattr(options, name)))


@dataclass(frozen=True)
class Loading:
    """How files are decoded into training-rate audio.

    Args:
        sample_rate (int): training rate in Hz.
        resample_quality (str): high | fast | torchaudio_default (see vocoder_train/io/audio.py).
        partial_reads (bool): decode only the crop's span when the manifest gives lengths.
        cache_audio (bool): keep decoded, resampled training files in memory (per worker; small corpora).
    """

    sample_rate: int
    resample_quality: str = "high"
    partial_reads: bool = True
    cache_audio: bool = False

    def __post_init__(self):
        _coerce(self, sample_rate=int, cache_audio=bool)


@dataclass(frozen=True)
class Crops:
    """What a training or validation item is cut to, its level, and its augmentation.

    Args:
        segment_length (int): training crop in samples (a multiple of the hop length).
        val_segment_length (int): validation segment in samples (first part of each file).
        gain_db ((float, float)): range of the random peak level of training crops.
        val_gain_db (float): peak level of validation segments.
        augment: optional training augmentation (``data/augment`` config group).
    """

    segment_length: int
    val_segment_length: int
    gain_db: Sequence[float] = (-6.0, -1.0)
    val_gain_db: float = -3.0
    augment: Callable | None = None

    def __post_init__(self):
        _coerce(self, segment_length=int, val_segment_length=int, gain_db=tuple, val_gain_db=float)


@dataclass(frozen=True)
class Loaders:
    """The DataLoaders and their samplers. Batch sizes are per device (under DDP each rank loads its own).

    Args:
        batch_size (int): per-device training batch.
        val_batch_size (int): per-device validation batch.
        num_workers (int): DataLoader worker processes (0 in tests).
        persistent_workers (bool): keep workers between epochs (when there are any).
        pin_memory (bool | None): None: on when CUDA is available.
        seed (int): crops, gains and order are a function of (seed, epoch, index): exact resume.
    """

    batch_size: int = 16
    val_batch_size: int = 4
    num_workers: int = 4
    persistent_workers: bool = True
    pin_memory: bool | None = None
    seed: int = 0

    def __post_init__(self):
        _coerce(self, batch_size=int, val_batch_size=int, num_workers=int, seed=int)


@dataclass(frozen=True)
class MelPairs:
    """Teacher-forced (audio, precomputed mel) pairs: the generator's feature extractor, for the
    expected frame count and bin count of each pair (:mod:`vocoder_train.data.pair_dataset`).

    Args:
        hop_length, n_fft, n_mels, mel_padding: the feature extractor's.
        max_frame_mismatch (int): frames trimmed/padded with a warning; more skips the file.
    """

    hop_length: int = 256
    n_fft: int = 1024
    n_mels: int = 100
    mel_padding: str = "center"
    max_frame_mismatch: int = 3

    def __post_init__(self):
        _coerce(self, hop_length=int, n_fft=int, n_mels=int, max_frame_mismatch=int)


@dataclass(frozen=True)
class FeaturePairs:
    """(audio, precomputed features) pairs at ``frame_rate`` frames a second, ``channels`` a frame
    (:mod:`vocoder_train.data.pair_dataset`), for a generator whose front end takes them as given.

    Args:
        frame_rate (float): frames per second of the feature files (``vocoder-prepare --frame-rate``).
        channels (int): features per frame.
        hop_length (int): samples per frame at the training rate, ``sample_rate / frame_rate``.
        max_frame_mismatch (int): frames trimmed/padded with a warning; more skips the file.
    """

    frame_rate: float
    channels: int
    hop_length: int
    max_frame_mismatch: int = 3

    def __post_init__(self):
        _coerce(self, frame_rate=float, channels=int, hop_length=int, max_frame_mismatch=int)


@dataclass(frozen=True)
class Mixing:
    """Several training corpora drawn by weight (:mod:`vocoder_train.data.mixing`) instead of ``train``.

    Args:
        sources (list[dict]): ``[{name, manifest, weight}]``, as the config gives them.
        epoch_size (int | None): draws per epoch (default: all corpora's items).
    """

    sources: Sequence[dict]
    epoch_size: int | None = None


@dataclass(frozen=True)
class Shards:
    """Sharded corpora streamed instead of ``train`` (:mod:`vocoder_train.data.shards_read`).

    Args:
        shards: a folder or ``s3://`` URL written by ``vocoder-prepare --shards`` (its ``train``), or
            ``[{name, url, weight}]`` mixed by weight.
        s3_endpoint (str | None): endpoint of ``s3://`` URLs (S3-compatible stores); None:
            ``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL``, else AWS.
        shard_cache (str | None): folder for downloaded chunks; None: LitData's default.
        epoch_size (int | None): draws per epoch (default: all items of all sources).
    """

    shards: str | Sequence
    s3_endpoint: str | None = None
    shard_cache: str | None = None
    epoch_size: int | None = None
