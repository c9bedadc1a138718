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
    duplicate   the same bytes as a file earlier in the input order (the same path listed again, or a
                byte-identical copy under another name, found by a blake2b digest of the file); the
                earlier one is kept and the record's ``duplicate_of`` names it

With ``--mels DIR`` (teacher-forced fine-tuning pairs) each good file is paired with a mel
``DIR/<path relative to the corpus root, with .npy>`` or else ``DIR/<stem>.npy`` and rejected with

    mel_missing     no such .npy
    mel_unreadable  not a float .npy of shape (n_mels, L) or (1, n_mels, L), or NaN/Inf values
    mel_bins        not --n-mels bins
    mel_frames      frame count differs by more than --max-frame-mismatch from what the feature
                    extractor (--hop-length, --n-fft, --mel-padding) gives for the audio at --sample-rate

and the manifest entries get a ``"mel"`` key (see :mod:`vocoder_train.data.mel_dataset`).

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

:func:`prepare` is the entry; the report and the written files are built by
:mod:`vocoder_train.data.prepare_report`.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from vocoder_train.data.manifest import ManifestError, iter_entries
from vocoder_train.data.prepare_report import build_report, write_outputs

# io.audio / manifest import torch and torchaudio (seconds); they are imported where used so
# that `vocoder-prepare --help` and argument errors answer at once.

# Top-level folders of an input folder that name a split (matched case-insensitively).
SPLIT_FOLDERS = dict(train="train", val="val", valid="val", validation="val", dev="val", test="test")
DEFAULT_VAL_FRACTION = 0.05
REASONS = ("unreadable", "empty", "too_short", "too_long", "non_finite", "silent", "duplicate")
MEL_REASONS = ("mel_missing", "mel_unreadable", "mel_bins", "mel_frames")  # only with --mels
# Files longer than 1.5x this are decoded in chunks of this length, so that a 3-hour stereo
# 48 kHz recording needs ~120 MB of float32 at a time (x workers) instead of ~4 GB.
CHUNK_SECONDS = 300.0
# The content digest streams the file: a long recording never sits in memory whole.
DIGEST_CHUNK_BYTES = 1 << 20


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
    workers: int = 1
    progress: bool = True
    mels: str | None = None  # folder of teacher-forced .npy mels to pair with the audio
    hop_length: int = 256
    n_fft: int = 1024
    n_mels: int = 100
    mel_padding: str = "center"
    max_frame_mismatch: int = 3

    def reasons(self) -> tuple[str, ...]:
        return REASONS + MEL_REASONS if self.mels else REASONS

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


@dataclass(frozen=True)
class Entry:
    """One file to check: its absolute path and where it was found."""

    path: str
    source: str
    index: int  # position among all listings, so that rejected.jsonl follows the input order
    split: str | None = None  # "train" or "val" when the corpus's own split folders decide it


@dataclass
class Scan:
    """What the inputs name: the files to check, duplicates and missing files, ignored files."""

    entries: list[Entry] = field(default_factory=list)
    rejected: list[dict] = field(default_factory=list)  # duplicates and missing files, with their "index"
    ignored: int = 0
    roots: list[str] = field(default_factory=list)  # folders whose common path is the split's root
    fixed: dict[str, str] = field(default_factory=dict)  # path -> "train" / "val" from the corpus's own split
    held_out: list[str] = field(default_factory=list)  # files of test/ folders, in neither manifest
    notes: list[str] = field(default_factory=list)  # one line for each input folder with split folders
    val_paths: set[str] | None = None  # resolved paths of a --val-list folder's audio files

    def next_index(self) -> int:
        return len(self.entries) + len(self.rejected)


@dataclass
class Layout:
    """An input folder whose top-level folders name splits (``SPLIT_FOLDERS``)."""

    folder: str
    roles: dict[str, str]  # subfolder name -> "train" / "val" / "test"
    used: bool  # its train/ and val folders decide the split
    held_out: list[str] = field(default_factory=list)
    loose: int = 0  # files outside the split folders


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
    size: int = 0  # bytes
    error: str | None = None
    digest: str | None = None  # blake2b of the file's bytes: equal digests mean byte-identical files
    mel: str | None = None  # the paired mel (--mels)
    mel_frames: int | None = None

    def manifest_item(self) -> dict:
        item = dict(
            path=self.path,
            sample_rate=self.sample_rate,
            num_channels=self.num_channels,
            num_frames=self.num_frames,
            duration=self.duration,
        )
        if self.mel is not None:
            item.update(mel=self.mel, mel_frames=self.mel_frames)
        return item


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


# -- collecting the inputs ------------------------------------------------------------------------


def _is_hidden(path: Path, root: Path) -> bool:
    # ._name.wav (macOS resource forks) and .tmp files of interrupted writes are not audio to train on
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def _scan_folder(folder: Path) -> tuple[list[Path], int]:
    from vocoder_train.io.audio import is_audio_file

    found, ignored = [], 0
    for p in sorted(folder.rglob("*")):
        if not p.is_file():
            continue
        if is_audio_file(p) and not _is_hidden(p, folder):
            found.append(p)
        else:
            ignored += 1
    return found, ignored


def _read_list(src: Path) -> list[str]:
    from vocoder_train.data.manifest import read_manifest

    try:
        return [item["path"] for item in read_manifest(src)]
    except (ManifestError, UnicodeDecodeError) as e:
        raise PrepareError(f"{src}: cannot be read as a filelist or JSONL manifest ({e})") from e


def split_folders(folder: Path) -> dict[str, str]:
    """{subfolder name: "train" | "val" | "test"} when ``folder`` has a top-level train/ folder next to a
    validation or test folder (a corpus that ships its own split), else {}."""
    found = {
        p.name: SPLIT_FOLDERS[p.name.lower()]
        for p in folder.iterdir()
        if p.name.lower() in SPLIT_FOLDERS and p.is_dir()
    }
    roles = set(found.values())
    return found if "train" in roles and roles & {"val", "test"} else {}


def _expand_folder(
    scan: Scan, src: Path, layouts: list[Layout], opts: PrepareOptions
) -> list[tuple[str, str | None]]:
    """(path, own split or None) of each audio file under ``src``; test/ files are held out."""
    files, ignored = _scan_folder(src)
    scan.ignored += ignored
    scan.roots.append(os.path.abspath(src))
    roles = split_folders(src)
    if not roles:
        return [(str(p), None) for p in files]
    layout = Layout(os.path.abspath(src), roles, used=opts.split_override is None and "val" in roles.values())
    layouts.append(layout)
    listed = []
    for p in files:
        top, *below = p.relative_to(src).parts
        role = roles.get(top) if below else None
        if role == "test":
            layout.held_out.append(os.path.abspath(p))
            continue
        layout.loose += role is None
        listed.append((str(p), role if layout.used else None))
    return listed


def _layout_note(layout: Layout, seen: dict[str, Entry], opts: PrepareOptions) -> str:
    """One line on what an input folder's split folders did."""

    def names(role: str) -> str:
        return ", ".join(f"{n}/" for n, r in sorted(layout.roles.items()) if r == role)

    if layout.used:
        parts = [f"the corpus's own split is used: {names('train')} -> train, {names('val')} -> val"]
        parts += [f"{layout.loose} files outside them split by hash"] if layout.loose else []
    elif "val" in layout.roles.values():
        parts = [f"{names('train')} and {names('val')} do not decide the split ({opts.split_override} given)"]
    else:
        parts = ["no validation folder (val/, valid/, validation/ or dev/): val is chosen by hash"]
    held = sum(os.path.realpath(p) not in seen for p in layout.held_out)
    if held:
        parts.append(
            f"{names('test')} held out ({held} files in neither manifest; name it as an INPUT to use it)"
        )
    elif layout.held_out:
        parts.append(f"{names('test')} named as an input too: checked and split like the rest")
    return f"{layout.folder}: " + "; ".join(parts)


def _val_folder(opts: PrepareOptions) -> Path | None:
    src = None if opts.val_list is None else Path(opts.val_list).expanduser()
    return src if src is not None and src.is_dir() else None


def _add_val_folder(scan: Scan, seen: dict[str, Entry], folder: Path, input_dirs: list[str]) -> None:
    """A --val-list folder: its audio files are the validation files, and inputs where not listed already."""
    from vocoder_train.io.audio import AUDIO_EXTENSIONS

    files, ignored = _scan_folder(folder)
    if not files:
        raise PrepareError(
            f"{folder}: --val-list folder holds no audio files (looked for "
            f"{' '.join(AUDIO_EXTENSIONS)}) - give the folder of validation audio"
        )
    real = os.path.realpath(folder)
    if not any(real == d or real.startswith(d.rstrip(os.sep) + os.sep) for d in input_dirs):
        scan.ignored += ignored  # not counted already by an input folder that holds it
    scan.roots.append(os.path.abspath(folder))
    scan.val_paths = {os.path.realpath(p) for p in files}
    for p in files:
        if os.path.realpath(p) not in seen:  # a val file that an input lists too is no duplicate
            _add(scan, seen, Entry(os.path.abspath(p), f"--val-list {folder}", scan.next_index()))


def collect(inputs: Sequence[str | os.PathLike], opts: PrepareOptions = PrepareOptions()) -> Scan:
    """Expands folders, filelists, manifests, audio files and a --val-list folder into the files to check.

    The first listing of a file wins; later ones are rejected as ``duplicate``, listed files that
    do not exist as ``unreadable``. Raises :class:`PrepareError` for an input that does not exist.
    """
    from vocoder_train.io.audio import is_audio_file

    scan, seen, layouts, input_dirs = Scan(), {}, [], []
    for raw in inputs:
        src = Path(raw).expanduser()
        if src.is_dir():
            listed = _expand_folder(scan, src, layouts, opts)
            input_dirs.append(os.path.realpath(src))
        elif src.is_file():
            # a listed file is checked whatever its extension: naming a non-audio file is a mistake to report
            paths = [str(src)] if is_audio_file(src) else _read_list(src)
            scan.roots.extend(os.path.dirname(os.path.abspath(p)) for p in paths)
            listed = [(p, None) for p in paths]
        else:
            raise PrepareError(
                f"{src}: no such file or folder (give folders, filelists, JSONL manifests or audio files)"
            )
        for path, role in listed:
            _add(scan, seen, Entry(os.path.abspath(path), str(src), scan.next_index(), role))
    val_dir = _val_folder(opts)
    if val_dir is not None:
        _add_val_folder(scan, seen, val_dir, input_dirs)
    # a held-out file that an input or the --val-list folder names is checked like any other
    scan.held_out = [p for layout in layouts for p in layout.held_out if os.path.realpath(p) not in seen]
    scan.notes = [_layout_note(layout, seen, opts) for layout in layouts]
    return scan


def _add(scan: Scan, seen: dict[str, Entry], entry: Entry) -> None:
    if not os.path.isfile(entry.path):
        what = "no such file" if not os.path.exists(entry.path) else "not a regular file"
        scan.rejected.append(
            dict(
                path=entry.path,
                reason="unreadable",
                message=f"{what} (listed in {entry.source})",
                index=entry.index,
            )
        )
        return
    key = os.path.realpath(entry.path)
    if key in seen:
        first = seen[key]
        scan.rejected.append(
            dict(
                path=entry.path,
                reason="duplicate",
                index=entry.index,
                duplicate_of=first.path,
                message=f"same file as {first.path} (from {first.source}), listed again in {entry.source}",
            )
        )
        return
    seen[key] = entry
    scan.entries.append(entry)
    if entry.split is not None:
        scan.fixed[entry.path] = entry.split


# -- measuring one file ---------------------------------------------------------------------------


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
        peak, sumsq, frames, non_finite = _decode_stats(path, info.duration)
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
    return stats


def _decode_stats(path: str, probed_duration: float) -> tuple[float, float, int, int]:
    """(peak |x| over finite samples, sum of squares, frames, non-finite count), decoded in chunks."""
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
        frames += audio.shape[-1]
        if last:
            break
        offset += CHUNK_SECONDS
    return peak, sumsq, frames, non_finite


def _short_error(message: str, path: str) -> str:
    """FFmpeg's reason without the file name (it is in the record already) or C++ source locations."""
    message = message.replace(f"{path}: ", "", 1).replace(f" {path}", "").replace(path, "the file")
    return re.sub(r"\w+, /\S+\.(?:cpp|h):\d+, ", "", message)


def classify(stats: FileStats, opts: PrepareOptions) -> tuple[str, str] | None:
    """(reason, message) when the file is rejected, None when it is good."""
    if stats.error is not None:
        return "unreadable", _short_error(stats.error, stats.path)
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


# -- teacher-forced mels (--mels) -----------------------------------------------------------------


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
        return e.reason, _short_error(str(e), str(mel_path))
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


# -- the split ------------------------------------------------------------------------------------


def common_root(roots: Sequence[str]) -> str:
    """The deepest folder that holds every root (the split hashes paths relative to it)."""
    return os.path.commonpath(roots) if roots else os.sep


def split_key(path: str, root: str, seed: int) -> float:
    """A number in [0, 1) from the path relative to ``root``: the same file always gets the same one."""
    rel = Path(os.path.relpath(path, root)).as_posix()
    digest = hashlib.sha256(f"{seed}:{rel}".encode("utf-8", "surrogateescape")).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def split_by_hash(
    good: list[FileStats], root: str, opts: PrepareOptions, fixed: dict[str, str] | None = None
) -> tuple[list[bool], list[str]]:
    """is_val for each file: ``fixed`` (the corpus's own split) where it names the file, else the hash.

    At least one val file (and one train file) when there are >= 2 files, taken from the hashed ones.
    """
    if len(good) == 1:
        return [False], ["only one good file: it goes to train and val.jsonl is empty"]
    fixed = fixed or {}
    keys = [split_key(s.path, root, opts.seed) for s in good]
    is_val = [fixed[s.path] == "val" if s.path in fixed else k < opts.fraction for s, k in zip(good, keys)]
    free = [i for i, s in enumerate(good) if s.path not in fixed]
    if free and not any(is_val):
        is_val[min(free, key=keys.__getitem__)] = True
    if free and all(is_val):
        is_val[max(free, key=keys.__getitem__)] = False
    if all(is_val):  # nothing hashed to move: every good file is in a val folder
        raise PrepareError(
            f"{root}: every good file is in a validation folder (val/, valid/, validation/, dev/), "
            "none is left for training - check train/ in rejected.jsonl, or split by hash "
            "with --val-fraction"
        )
    if not any(is_val):
        return is_val, ["no good file in the corpus's validation folders: val.jsonl is empty"]
    return is_val, []


def _read_val_list(src: Path) -> list[str]:
    try:
        return [str(item["path"]) for _, item in iter_entries(src)]
    except ManifestError as e:
        raise PrepareError(str(e)) from e


def split_by_folder(good: list[FileStats], val_paths: set[str], folder: str) -> tuple[list[bool], list[str]]:
    """is_val for each file whose resolved path is one of a --val-list folder's ``val_paths``."""
    is_val = [os.path.realpath(s.path) in val_paths for s in good]
    if all(is_val):
        raise PrepareError(
            f"{folder}: every good file is under --val-list, none is left for training - "
            "give the training files as INPUT"
        )
    if any(is_val):
        return is_val, []
    return is_val, [
        f"--val-list {folder}: none of its {len(val_paths)} audio files is good, val.jsonl is empty"
    ]


def choose_split(
    good: list[FileStats], root: str, scan: Scan, opts: PrepareOptions
) -> tuple[list[bool], list[str], str]:
    """(is_val for each file, warnings, the method: "val_list", "corpus" or "hash")."""
    if scan.val_paths is not None:
        return *split_by_folder(good, scan.val_paths, str(opts.val_list)), "val_list"
    if opts.val_list:
        return *split_by_list(good, root, opts.val_list), "val_list"
    return *split_by_hash(good, root, opts, scan.fixed), "corpus" if scan.fixed else "hash"


def split_by_list(good: list[FileStats], root: str, val_list: str) -> tuple[list[bool], list[str]]:
    """is_val for each file named in ``val_list``: absolute paths, paths relative to the list's
    folder or to the common root, or bare file names (which match in any folder)."""
    src = Path(val_list).expanduser()
    if not src.is_file():
        raise PrepareError(f"{src}: --val-list file not found")
    names, paths, entries = set(), {}, _read_val_list(src)
    for e in entries:
        if "/" not in e and os.sep not in e:
            names.add(e)
        for base in (src.parent, Path(root)):
            paths[os.path.realpath(os.path.join(base, os.path.expanduser(e)))] = e
    is_val, used = [], set()
    for s in good:
        hit = paths.get(os.path.realpath(s.path))
        if hit is None and os.path.basename(s.path) in names:
            hit = os.path.basename(s.path)
        is_val.append(hit is not None)
        used.add(hit)
    unused = [e for e in entries if e not in used]
    warnings = (
        [f"--val-list {src}: {len(unused)} entries match no good file, e.g. {unused[:3]}"] if unused else []
    )
    if not any(is_val):
        warnings.append(f"--val-list {src}: no good file is in it, val.jsonl is empty")
    if good and all(is_val):
        raise PrepareError(f"{src}: every good file is in --val-list, none is left for training")
    return is_val, warnings


# -- the core -------------------------------------------------------------------------------------


def _check_options(opts: PrepareOptions) -> None:
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


def _check_output(output: Path) -> None:
    """Fails before the (long) probing, not after it, when --output cannot be written."""
    existing = output.absolute()
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise PrepareError(
            f"{output}: --output cannot be created or written ({existing} is not a writable folder)"
        )


def _no_good_files(inputs, scan: Scan, rejected: list[dict]) -> PrepareError:
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
    if first["reason"] in MEL_REASONS:
        example = f"{first['path']} with {first['mel']}"
        advice = "check the mels and --hop-length/--n-fft/--n-mels/--mel-padding/--sample-rate"
    else:
        example, advice = first["path"], "check the files and --min-duration/--silence-db"
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
        verdict, extra = classify(stats, opts), {}
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
    inputs: Sequence[str | os.PathLike], output: str | os.PathLike, opts: PrepareOptions = PrepareOptions()
) -> PrepareResult:
    """Checks every file the inputs name, splits the good ones, writes manifests and the report.

    Raises :class:`PrepareError` (nothing written) for missing inputs, bad options, or no good file.
    """
    _check_options(opts)
    _check_output(Path(output))
    if not inputs:
        raise PrepareError("no INPUT given: name at least one folder, filelist or manifest")
    scan = collect(inputs, opts)
    if not scan.entries and not scan.rejected:
        raise _no_good_files(inputs, scan, [])
    good, rejected = check_files(scan, opts)
    root = common_root(scan.roots)
    if opts.mels and good:
        good, mel_rejected = pair_mels(good, root, opts)
        rejected = rejected + mel_rejected  # after the audio checks, in input order among themselves
    if not good:
        raise _no_good_files(inputs, scan, rejected)
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
    )
    files = write_outputs(Path(output), train, val, rejected, report, opts)
    return PrepareResult(Path(output), train, val, rejected, scan.ignored, report, files)
