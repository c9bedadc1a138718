"""``vocoder-prepare``: scan a corpus, check every file, split it and write manifests and a report.

    vocoder-prepare corpus/ --output data/mycorpus
    vocoder-prepare corpus/ extra.txt old.jsonl -o data/x --val-list val_names.txt --max-duration 30
    vocoder-prepare corpus/train --val-list corpus/val -o data/x
    vocoder-prepare corpus/ --features feats/ --frame-rate 50 --sample-rate 16000 -o data/f

Argument parsing and printing over :func:`vocoder_train.data.prepare.prepare` (what is checked,
the rejection reasons, the split and the written files are described there).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from vocoder_train.data.prepare import PrepareResult, prepare
from vocoder_train.data.prepare_options import REASONS, PrepareError, PrepareOptions


def _duration_or_none(text: str) -> float | None:
    if text.strip().lower() in ("none", "inf", "off", ""):
        return None
    return float(text)


def _off_or_float(text: str) -> float | None:
    return None if text.strip().lower() in ("none", "off") else float(text)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="vocoder-prepare",
        description="Check every audio file of a corpus (decode it, measure rate, channels, length, level), "
        "reject unusable ones with a reason (" + ", ".join(REASONS) + "), split the rest into train/val and "
        "write train.jsonl, val.jsonl, rejected.jsonl, report.json, report.md and duration_histogram.png "
        "into --output. The corpus itself is only read.",
        epilog="examples:\n"
        "  vocoder-prepare corpus/ --output data/mycorpus\n"
        "  vocoder-prepare wavs/ more.txt old.jsonl --output data/x --min-duration 1 --max-duration 30\n"
        "  vocoder-prepare corpus/ --output data/x --val-list val_files.txt --workers 8\n"
        "  vocoder-prepare corpus/train --val-list corpus/val --output data/x\n"
        "  vocoder-prepare corpus/ --features feats/ --frame-rate 50 --sample-rate 16000 --output data/f\n"
        "the split: --val-list if given, else a hash of each path if --val-fraction is given, else the\n"
        "corpus's own split where an INPUT folder has top-level train/ and val/, valid/, validation/ or "
        "dev/\n"
        "folders (any case; its other files by hash), else a hash with fraction 0.05. A top-level test/\n"
        "folder next to train/ is held out of both manifests; name it as an INPUT to use it.\n"
        "duplicates: files with the same bytes (found by a blake2b digest) as one earlier in the INPUT\n"
        "order; the earlier one is kept.\n\n"
        "then: vocoder-train data.train=data/x/train.jsonl data.val=data/x/val.jsonl\n"
        "(with --features: vocoder-train experiment=features data.frame_rate=R data.channels=C ...)\n\n"
        "exit status: 0 on success, 2 on bad arguments, a missing input, or no usable file.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "inputs",
        nargs="+",
        metavar="INPUT",
        help="folder (searched recursively), filelist (one path per line; relative paths are "
        "relative to the list), JSONL manifest, or audio file",
    )
    p.add_argument(
        "-o", "--output", required=True, metavar="DIR", help="folder for the manifests and the report"
    )
    val = p.add_mutually_exclusive_group()
    val.add_argument(
        "--val-fraction",
        type=float,
        default=None,
        metavar="F",
        help="share of files for validation, chosen by a hash of each path, so adding files "
        "never moves the others (default 0.05; at least 1 file); giving it replaces a corpus's "
        "own train/ and val/ folders",
    )
    val.add_argument(
        "--val-list",
        metavar="FILE|DIR",
        help="validation files instead: a folder (its audio files are validation files and are "
        "checked as inputs too), or a list with one path (absolute, or relative to FILE or to the "
        "corpus root) or bare file name per line; a previous val.jsonl works",
    )
    p.add_argument(
        "--min-duration",
        type=float,
        default=0.5,
        metavar="S",
        help="reject files shorter than S seconds (default 0.5; training crops are ~0.7 s at 24 kHz)",
    )
    p.add_argument(
        "--max-duration",
        type=_duration_or_none,
        default=None,
        metavar="S",
        help="reject files longer than S seconds (default none)",
    )
    p.add_argument(
        "--silence-db",
        type=float,
        default=-60.0,
        metavar="DB",
        help="reject files whose peak is below DB dBFS (default -60)",
    )
    p.add_argument(
        "--sample-rate",
        type=int,
        default=24000,
        metavar="HZ",
        help="the training rate: files below it are reported as warnings (and rejected as low_bandwidth "
        "when their Nyquist frequency is under --min-bandwidth) (default 24000)",
    )
    s = p.add_argument_group("screening (docs/guide-scale.md, 'Screening')")
    s.add_argument(
        "--min-bandwidth",
        type=lambda text: 0.0 if _off_or_float(text) is None else float(text),  # off: 0, no check
        default=None,
        metavar="HZ",
        help="reject files whose content ends below HZ (low_bandwidth): above it their average spectrum "
        "stays 60 dB under its mean level, as in audio upsampled from a lower rate or low-passed by an "
        "MP3 encoder (default: a quarter of --sample-rate, 6000 at 24000; 0 or off: no check)",
    )
    s.add_argument(
        "--max-clipping",
        type=_off_or_float,
        default=0.001,
        metavar="FRACTION",
        help="reject files with more than FRACTION of their samples in clipped runs, 3 or more consecutive "
        "samples at |x| >= 0.99 (clipped) (default 0.001; off: no check)",
    )
    s.add_argument(
        "--min-loudness",
        type=_off_or_float,
        default=-50.0,
        metavar="LUFS",
        help="reject files whose integrated loudness (ITU-R BS.1770) is below LUFS (too_quiet) "
        "(default -50; off: no check)",
    )
    p.add_argument("--seed", type=int, default=0, help="changes which files the hash split picks (default 0)")
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="processes decoding files in parallel; output is identical for any N (default 1)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    m = p.add_argument_group("teacher-forced mel pairs")
    m.add_argument(
        "--mels",
        metavar="DIR",
        help="pair each good file with DIR/<relative path>.npy or DIR/<stem>.npy, a (n_mels, frames) "
        "mel from the TTS model; reject files without a fitting one (mel_missing, mel_unreadable, "
        "mel_bins, mel_frames) and write 'mel' into the manifests (train with data=mel_pairs)",
    )
    m.add_argument("--hop-length", type=int, default=256, metavar="N", help="the vocoder's hop (default 256)")
    m.add_argument(
        "--n-fft",
        type=int,
        default=1024,
        metavar="N",
        help="the vocoder's n_fft, used with --mel-padding same and causal (default 1024)",
    )
    m.add_argument(
        "--n-mels", type=int, default=100, metavar="N", help="the vocoder's mel bins (default 100)"
    )
    m.add_argument(
        "--mel-padding",
        default="center",
        metavar="{center,same,causal}",
        help="the vocoder's feature-extractor padding: center gives T // hop + 1 frames, same T // hop, "
        "causal (model/generator=vocos_causal) ceil((T + n_fft - hop) / hop) (default center)",
    )
    m.add_argument(
        "--max-frame-mismatch",
        type=int,
        default=3,
        metavar="N",
        help="frame-count differences up to N are fixed at training time, more are rejected (default 3)",
    )
    f = p.add_argument_group("precomputed feature pairs")
    f.add_argument(
        "--features",
        metavar="DIR",
        help="pair each good file with DIR/<relative path>.npy or DIR/<stem>.npy, a (C, frames) array of "
        "precomputed features (SSL layers, TTS latents, another codec's features) at --frame-rate; reject "
        "files without a fitting one (features_missing, features_unreadable, features_channels, "
        "features_frames) and write 'features' into the manifests (train with experiment=features)",
    )
    f.add_argument(
        "--frame-rate",
        type=float,
        default=None,
        metavar="R",
        help="frames per second of the feature files; --sample-rate / R must be a whole hop in samples "
        "(50 at 16000: 320), and each file has T // hop frames (within --max-frame-mismatch)",
    )
    f.add_argument(
        "--channels",
        type=int,
        default=None,
        metavar="C",
        help="the channel count every feature file must have (default: the most common one among them)",
    )
    _add_shard_arguments(p)
    return p


def _add_shard_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("shards for large corpora (docs/guide-scale.md; needs vocoder_train[scale])")
    g.add_argument(
        "--shards",
        metavar="DIR",
        help="also write the train and val files as LitData shards into DIR/train and DIR/val, for "
        "data=shards (stream from DIR or an s3:// copy of it); a rerun after an interruption continues",
    )
    g.add_argument(
        "--shard-audio",
        choices=("pcm16", "original"),
        default="pcm16",
        help="pcm16: mono 16-bit samples at --sample-rate (no decoding when training); original: each "
        "file's bytes as they are (smaller for FLAC/MP3) (default pcm16)",
    )
    g.add_argument(
        "--shard-mb", type=float, default=64.0, metavar="MB", help="size of one shard file (default 64)"
    )
    g.add_argument(
        "--shard-group",
        type=int,
        default=1000,
        metavar="N",
        help="files a worker writes in one go; an interrupted write resumes at such a group (default 1000)",
    )


def print_summary(res: PrepareResult) -> None:
    t, sp, rep = res.report["totals"], res.report["splits"], res.report
    by = ", ".join(f"{r} {n}" for r, n in rep["rejected"]["by_reason"].items() if n)
    held = f"; {t['held_out']} held out" if t["held_out"] else ""
    print(
        f"vocoder-prepare: {t['good']} good files, {t['hours']:.3f} h "
        f"(train {sp['train']['files']} / {sp['train']['hours']:.3f} h, val {sp['val']['files']} / "
        f"{sp['val']['hours']:.3f} h); {t['rejected']} rejected{f' ({by})' if by else ''}; "
        f"{t['ignored']} ignored{held}"
    )
    for note in rep["split"]["notes"]:
        print(f"  split: {note}")
    for w in rep["warnings"]:
        print(f"  warning: {w}")
    settings = rep["settings"]
    if settings.get("features"):
        rate, channels = settings["frame_rate"], settings["channels"]
        print(
            f"  features: {channels} channels at {rate:g} Hz (hop {settings['hop_length']} samples); train "
            f"with experiment=features data.frame_rate={rate:g} data.channels={channels}"
        )
    print(f"  wrote {res.output.resolve()}/: {', '.join(p.name for p in res.files.values())}")
    if res.rejected:
        print(f"  see {res.files['rejected']} for why each file was rejected")
    for shards in (res.shards or {}).values():
        print(f"  shards: {shards['path'].resolve()} ({shards['files']} files, {shards['hours']:.3f} h)")
    if res.shards and "val" in res.shards:
        train, val = res.shards["train"]["path"], res.shards["val"]["path"]
        print(f"  then: vocoder-train data=shards data.shards={train} data.val={val}")


def main(argv: Sequence[str] | None = None) -> int:
    from vocoder_train.config.runtime import setup

    setup()
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:  # --help (0) and usage errors (2) as a return value, so tests can call main
        return int(e.code or 0)
    opts = PrepareOptions(
        val_fraction=args.val_fraction,
        val_list=args.val_list,
        min_duration=args.min_duration,
        max_duration=args.max_duration,
        seed=args.seed,
        sample_rate=args.sample_rate,
        silence_db=args.silence_db,
        min_bandwidth=args.min_bandwidth,
        max_clipping=args.max_clipping,
        min_loudness=args.min_loudness,
        workers=args.workers,
        progress=not args.no_progress,
        mels=args.mels,
        hop_length=args.hop_length,
        n_fft=args.n_fft,
        n_mels=args.n_mels,
        mel_padding=args.mel_padding,
        max_frame_mismatch=args.max_frame_mismatch,
        features=args.features,
        frame_rate=args.frame_rate,
        channels=args.channels,
        shards=args.shards,
        shard_audio=args.shard_audio,
        shard_mb=args.shard_mb,
        shard_group=args.shard_group,
    )
    try:
        res = prepare(args.inputs, args.output, opts)
    except PrepareError as e:
        print(f"vocoder-prepare: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # an unwritable --output, an unreadable folder
        print(f"vocoder-prepare: error: {e.filename or args.output}: {e.strerror or e}", file=sys.stderr)
        return 2
    print_summary(res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
