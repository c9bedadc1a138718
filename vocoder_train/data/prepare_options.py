"""The settings of a ``vocoder-prepare`` run, their checks, its rejection reasons and its error."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vocoder_train.data.pair_kinds import FEATURES, MEL, PairKind

DEFAULT_VAL_FRACTION = 0.05
# Rejected by a screening threshold (vocoder_train.data.screening measures them):
SCREEN_REASONS = ("low_bandwidth", "clipped", "too_quiet")
REASONS = (
    "unreadable",
    "empty",
    "too_short",
    "too_long",
    "non_finite",
    "silent",
    *SCREEN_REASONS,
    "duplicate",
)
PAIR_REASONS = MEL.reasons + FEATURES.reasons  # only with --mels / --features


class PrepareError(ValueError):
    """Bad inputs or nothing usable in them. The message names the path and what to check."""


@dataclass(frozen=True)
class PrepareOptions:
    """Settings of one run; see ``vocoder-prepare --help`` for each."""

    val_fraction: float | None = None  # None: the corpus's own split, else DEFAULT_VAL_FRACTION
    val_list: str | None = None  # a filelist, manifest or folder of validation files
    min_duration: float = 0.5
    max_duration: float | None = None
    seed: int = 0
    sample_rate: int = 24000
    silence_db: float = -60.0
    min_bandwidth: float | None = None  # Hz; None: a quarter of sample_rate (half its Nyquist); 0: off
    max_clipping: float | None = 0.001  # fraction of samples in clipped runs; None: off
    min_loudness: float | None = -50.0  # integrated LUFS; None: off
    workers: int = 1
    progress: bool = True
    mels: str | None = None  # folder of teacher-forced .npy mels to pair with the audio
    hop_length: int = 256
    n_fft: int = 1024
    n_mels: int = 100
    mel_padding: str = "center"
    max_frame_mismatch: int = 3
    features: str | None = None  # folder of precomputed (C, frames) .npy features to pair with the audio
    frame_rate: float | None = None  # their frames per second; hop = sample_rate / frame_rate
    channels: int | None = None  # their C; None: the most common C among them
    shards: str | None = None  # folder for train/ and val/ LitData shards (vocoder_train.data.shards_write)
    shard_audio: str = "pcm16"  # pcm16: mono 16-bit at sample_rate; original: each file's bytes
    shard_mb: float = 64.0  # target size of one shard file
    shard_group: int = 1000  # files a worker writes in one go (a restart resumes at a group)

    @property
    def pair_kind(self) -> PairKind | None:
        """What --mels or --features pairs with the audio; None for neither."""
        return MEL if self.mels else FEATURES if self.features else None

    def reasons(self) -> tuple[str, ...]:
        kind = self.pair_kind
        return REASONS + kind.reasons if kind else REASONS

    @property
    def bandwidth_floor(self) -> float:
        """--min-bandwidth in Hz, its default resolved: half the Nyquist frequency of --sample-rate."""
        return self.sample_rate / 4 if self.min_bandwidth is None else self.min_bandwidth

    @property
    def fraction(self) -> float:
        """The share of the hash split: --val-fraction when given, else the default."""
        return DEFAULT_VAL_FRACTION if self.val_fraction is None else self.val_fraction

    @property
    def split_override(self) -> str | None:
        """The option that replaces a corpus's own split, when the user gave one."""
        if self.val_list is not None:
            return "--val-list"
        return None if self.val_fraction is None else "--val-fraction"


DEFAULT_OPTIONS = PrepareOptions()  # the defaults of ``vocoder-prepare``, shared: the options are frozen


def check_options(opts: PrepareOptions) -> None:
    """Raises :class:`PrepareError` for a value out of range, a missing --val-list / --mels / --features
    path, or a --frame-rate that is not a whole hop at --sample-rate."""
    if opts.val_fraction is not None and not 0.0 < opts.val_fraction < 1.0:
        raise PrepareError(f"--val-fraction {opts.val_fraction}: must be between 0 and 1 (exclusive)")
    if opts.min_duration < 0 or (opts.max_duration is not None and opts.max_duration < opts.min_duration):
        raise PrepareError(
            f"--min-duration {opts.min_duration} / --max-duration {opts.max_duration}: need 0 <= min <= max"
        )
    if opts.val_list is not None and not Path(opts.val_list).expanduser().exists():
        raise PrepareError(
            f"{opts.val_list}: --val-list not found (give a folder of validation audio, "
            "a filelist or a JSONL manifest)"
        )
    if opts.sample_rate <= 0 or opts.workers < 1:
        raise PrepareError(f"--sample-rate {opts.sample_rate} / --workers {opts.workers}: must be positive")
    _check_screening(opts)
    if opts.mels is not None:
        if not Path(opts.mels).expanduser().is_dir():
            raise PrepareError(f"{opts.mels}: --mels folder not found")
        if min(opts.hop_length, opts.n_fft, opts.n_mels) <= 0 or opts.max_frame_mismatch < 0:
            raise PrepareError(
                f"--hop-length {opts.hop_length} / --n-fft {opts.n_fft} / --n-mels {opts.n_mels} "
                f"/ --max-frame-mismatch {opts.max_frame_mismatch}: must be positive"
            )
        from vocoder_train.dsp import MEL_PADDINGS

        if opts.mel_padding not in MEL_PADDINGS:
            raise PrepareError(f"--mel-padding {opts.mel_padding}: must be one of {', '.join(MEL_PADDINGS)}")
    if opts.mels is not None and opts.features is not None:
        raise PrepareError(
            "--mels and --features: give one (mels for data=mel_pairs, features for data=feature_pairs)"
        )
    if opts.features is None:
        if opts.frame_rate is not None or opts.channels is not None:
            raise PrepareError("--frame-rate and --channels go with --features DIR")
        return
    if not Path(opts.features).expanduser().is_dir():
        raise PrepareError(f"{opts.features}: --features folder not found")
    if opts.frame_rate is None:
        raise PrepareError("--features needs --frame-rate R: the frames per second of the feature files")
    from vocoder_train.dsp import frame_hop

    try:
        frame_hop(opts.sample_rate, opts.frame_rate)
    except ValueError as e:
        raise PrepareError(
            f"--frame-rate {opts.frame_rate:g} / --sample-rate {opts.sample_rate}: {e}"
        ) from None
    if (opts.channels is not None and opts.channels <= 0) or opts.max_frame_mismatch < 0:
        raise PrepareError(
            f"--channels {opts.channels} / --max-frame-mismatch {opts.max_frame_mismatch}: need channels > 0 "
            "and mismatch >= 0"
        )


def _check_screening(opts: PrepareOptions) -> None:
    if opts.min_bandwidth is not None and not 0.0 <= opts.min_bandwidth <= opts.sample_rate / 2:
        raise PrepareError(
            f"--min-bandwidth {opts.min_bandwidth:g}: must be between 0 (off) and the Nyquist frequency "
            f"of --sample-rate {opts.sample_rate} ({opts.sample_rate / 2:g} Hz)"
        )
    if opts.max_clipping is not None and not 0.0 <= opts.max_clipping <= 1.0:
        raise PrepareError(
            f"--max-clipping {opts.max_clipping:g}: must be a fraction of samples between 0 and 1 "
            "(e.g. 0.001), or 'off'"
        )
    if opts.min_loudness is not None and not -70.0 <= opts.min_loudness <= 0.0:
        raise PrepareError(
            f"--min-loudness {opts.min_loudness:g}: must be between -70 and 0 LUFS (e.g. -50), or 'off'"
        )
