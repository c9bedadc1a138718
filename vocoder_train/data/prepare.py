"""Corpus preparation (``vocoder-prepare``): scan a corpus, check every file, split it, write manifests and a
report.

Inputs are folders (searched recursively for audio extensions; other files and hidden files are
ignored), filelists (one path per line, ``path|text`` allowed, relative paths resolved against the
list's folder), JSONL manifests, or audio files. Every file is decoded in full (that is the only
reliable check that it is readable and how long it is) and is either kept or rejected with a reason:

    unreadable  not decodable as audio: broken, not audio, or missing
    empty       0 bytes or 0 audio frames
    too_short   shorter than --min-duration
    too_long    longer than --max-duration
    non_finite  NaN or Inf samples (float WAVs can hold them)
    silent      peak below --silence-db
    low_bandwidth  no content above a frequency under --min-bandwidth (default a quarter of
                --sample-rate): audio upsampled from a lower rate, or low-passed (MP3, telephone)
    clipped     more than --max-clipping of the samples in runs at full scale
    too_quiet   integrated loudness (BS.1770, LUFS) below --min-loudness
    duplicate   the same bytes as a file earlier in the input order (the same path listed again, or a
                byte-identical copy under another name, found by a blake2b digest of the file); the
                earlier one is kept and the record's ``duplicate_of`` names it

The three screening measures (:mod:`vocoder_train.data.screening`) are in the records of files
rejected by them, and their distribution over every file that reached them is in the report.

With ``--mels DIR`` (teacher-forced fine-tuning pairs) each good file is paired with a mel
``DIR/<path relative to the corpus root, with .npy>`` or else ``DIR/<stem>.npy`` and rejected with

    mel_missing     no such .npy
    mel_unreadable  not a float .npy of shape (n_mels, L) or (1, n_mels, L), or NaN/Inf values
    mel_bins        not --n-mels bins
    mel_frames      frame count differs by more than --max-frame-mismatch from what the feature
                    extractor (--hop-length, --n-fft, --mel-padding) gives for the audio at --sample-rate

and the manifest entries get a ``"mel"`` key (see :mod:`vocoder_train.data.pair_dataset`).

With ``--features DIR --frame-rate R`` (precomputed features: SSL layers, TTS latents, another codec's
features) each good file is paired the same way with a ``(C, frames)`` array at R frames a second, and
rejected with

    features_missing      no such .npy
    features_unreadable   not a float .npy of shape (C, L) or (1, C, L), or NaN/Inf values
    features_channels     not --channels channels (default: the most common C of the feature files)
    features_frames       frame count differs by more than --max-frame-mismatch from T // hop, the hop
                          being --sample-rate / --frame-rate (a whole number of samples, else an error)

and the manifest entries get ``"features"``, ``"features_frames"`` and ``"frame_rate"``.

The kept files are split into train and val by, in this order of precedence:

- ``--val-list``: a filelist or manifest of validation files, or a folder whose audio files are the
  validation files (the folder is also scanned as an input, so ``corpus/train --val-list corpus/val``
  works);
- an explicit ``--val-fraction``: a hash of each path relative to the common root of the inputs, so
  adding files never moves the others;
- the corpus's own split: an input folder with a top-level ``train/`` folder next to ``val/``,
  ``valid/``, ``validation/`` or ``dev/`` folders (any case) sends the files under them to train and
  val; its other files are split by the hash with the default fraction;
- otherwise the hash with the default fraction, 0.05.

A top-level ``test/`` folder next to ``train/`` is held out whatever the split: its files are in
neither manifest (a test set stays unseen by training and validation); name it as an input to use
it. The corpus is only read. The output folder gets ``train.jsonl``, ``val.jsonl`` (the format of
:mod:`vocoder_train.data.manifest`), ``rejected.jsonl``, ``report.json``, ``report.md`` and
``duration_histogram.png``, each written atomically.

:func:`prepare` is the entry. Its stages: :mod:`vocoder_train.data.scan` (the inputs),
:mod:`vocoder_train.data.probe` (decoding and measuring each file), :mod:`vocoder_train.data.pairing`
(``--mels``, ``--features``), :mod:`vocoder_train.data.split` (train and val) and
:mod:`vocoder_train.data.prepare_report` (the report and the written files); the settings are
:mod:`vocoder_train.data.prepare_options`.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from vocoder_train.data.pair_kinds import MEL
from vocoder_train.data.pairing import pair_files
from vocoder_train.data.prepare_options import (
    DEFAULT_OPTIONS,
    PAIR_REASONS,
    SCREEN_REASONS,
    PrepareError,
    PrepareOptions,
    check_options,
)
from vocoder_train.data.prepare_report import build_report, write_outputs
from vocoder_train.data.probe import FileStats, classify, measure_all
from vocoder_train.data.scan import Scan, collect
from vocoder_train.data.split import choose_split, common_root

# io.audio / manifest import torch and torchaudio (seconds); they are imported where used so
# that `vocoder-prepare --help` and argument errors answer at once.


@dataclass
class PrepareResult:
    """What :func:`prepare` wrote. ``train`` / ``val`` hold :class:`FileStats`; ``rejected`` dicts."""

    output: Path
    train: list[FileStats]
    val: list[FileStats]
    rejected: list[dict]
    ignored: int
    report: dict
    files: dict[str, Path]
    shards: dict[str, dict] | None = None  # with --shards: per split, write_shards' summary and its path


def _check_output(output: Path) -> None:
    """Fails before the (long) probing, not after it, when --output cannot be written."""
    existing = output.absolute()
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise PrepareError(
            f"{output}: --output cannot be created or written ({existing} is not a writable folder)"
        )


def _no_good_files(inputs, scan: Scan, rejected: list[dict], opts: PrepareOptions) -> PrepareError:
    where = ", ".join(map(str, inputs))
    if not rejected:
        from vocoder_train.io.audio import AUDIO_EXTENSIONS

        held = f"; {len(scan.held_out)} held out in test folders" if scan.held_out else ""
        return PrepareError(
            f"{where}: no audio files found (looked for {' '.join(AUDIO_EXTENSIONS)}; "
            f"{scan.ignored} other files ignored{held}) - check the path and the file extensions"
        )
    reasons = ", ".join(f"{r}: {n}" for r, n in Counter(x["reason"] for x in rejected).items())
    first = rejected[0]
    if first["reason"] in PAIR_REASONS:
        example = f"{first['path']} with {first[opts.pair_kind.key]}"
        advice = (
            "check the mels and --hop-length/--n-fft/--n-mels/--mel-padding/--sample-rate"
            if opts.pair_kind is MEL
            else "check the feature files and --frame-rate/--channels/--sample-rate"
        )
    else:
        example, advice = (
            first["path"],
            "check the files and --min-duration/--silence-db/--min-bandwidth/--max-clipping/--min-loudness",
        )
    return PrepareError(
        f"{where}: none of the {len(rejected)} files is usable ({reasons}); "
        f"e.g. {example}: {first['message']} - {advice}"
    )


def check_files(scan: Scan, opts: PrepareOptions) -> tuple[list[FileStats], list[dict]]:
    """Measures the scanned files: the good ones, and every rejection record in input order.

    A good file whose bytes equal an earlier good file's is a ``duplicate`` of it. Files failing an
    audio check keep that reason, so equal empty or broken files are not called copies of each other.
    """
    measured = measure_all([e.path for e in scan.entries], opts.workers, opts.progress)
    good, rejected, first = [], list(scan.rejected), {}
    for entry, stats in zip(scan.entries, measured):
        verdict = classify(stats, opts)
        extra = stats.screening() if verdict and verdict[0] in SCREEN_REASONS else {}
        if verdict is None and stats.digest in first:
            extra = dict(duplicate_of=first[stats.digest])
            verdict = "duplicate", f"same bytes as {first[stats.digest]} (a copy under another name)"
        if verdict is None:
            first[stats.digest] = stats.path
            good.append(stats)
        else:
            record = dict(path=stats.path, reason=verdict[0], message=verdict[1], index=entry.index)
            rejected.append(record | extra)
    rejected.sort(key=lambda x: x["index"])
    return good, [{k: v for k, v in x.items() if k != "index"} for x in rejected]


def prepare(
    inputs: Sequence[str | os.PathLike], output: str | os.PathLike, opts: PrepareOptions = DEFAULT_OPTIONS
) -> PrepareResult:
    """Checks every file the inputs name, splits the good ones, writes manifests and the report.

    Raises :class:`PrepareError` (nothing written) for missing inputs, bad options, or no good file.
    """
    check_options(opts)
    _check_output(Path(output))
    if opts.shards:
        _shard_options(opts)  # bad --shard-* values fail before the probing
    if not inputs:
        raise PrepareError("no INPUT given: name at least one folder, filelist or manifest")
    scan = collect(inputs, opts)
    if not scan.entries and not scan.rejected:
        raise _no_good_files(inputs, scan, [], opts)
    good, rejected = check_files(scan, opts)
    root = common_root(scan.roots)
    channels = None
    if opts.pair_kind and good:
        good, pair_rejected, channels = pair_files(good, root, opts)
        rejected = rejected + pair_rejected  # after the audio checks, in input order among themselves
    if not good:
        raise _no_good_files(inputs, scan, rejected, opts)
    is_val, warnings, method = choose_split(good, root, scan, opts)
    train = [s for s, v in zip(good, is_val) if not v]
    val = [s for s, v in zip(good, is_val) if v]
    report = build_report(
        inputs,
        output,
        root,
        train,
        val,
        rejected,
        scan.ignored,
        opts,
        warnings,
        held_out=len(scan.held_out),
        split=dict(method=method, notes=scan.notes),
        pair_channels=channels,
    )
    files = write_outputs(Path(output), train, val, rejected, report, opts)
    shards = _write_shards(scan, train, val, opts) if opts.shards else None
    return PrepareResult(Path(output), train, val, rejected, scan.ignored, report, files, shards)


def _shard_options(opts: PrepareOptions):
    from vocoder_train.data.shards_write import ShardOptions

    shard = ShardOptions(opts.shard_audio, opts.sample_rate, opts.shard_mb, opts.shard_group, opts.workers)
    try:
        shard.check()
    except ValueError as e:
        raise PrepareError(str(e)) from None
    return shard


def _write_shards(scan: Scan, train: list[FileStats], val: list[FileStats], opts: PrepareOptions) -> dict:
    """``--shards``: the manifests' files as LitData shards, tagged with their input and speaker."""
    from vocoder_train.data.shards_write import write_prepared_shards

    tags = {e.path: {"source": e.source, **scan.tags.get(e.path, {})} for e in scan.entries}
    try:
        return write_prepared_shards(
            opts.shards, dict(train=train, val=val), tags, _shard_options(opts), opts.progress
        )
    except ValueError as e:  # a --shards folder of other inputs, a file gone since probing
        raise PrepareError(str(e)) from None
