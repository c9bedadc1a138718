"""The corpus report of ``vocoder-prepare``: report.json's numbers, report.md, the duration
histogram, and the atomic writes of every output file (manifests included)."""

from __future__ import annotations

import json
import math
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vocoder_train.data.prepare_options import PrepareOptions
    from vocoder_train.data.probe import FileStats

# Human-friendly duration bins (seconds) for the text table; the PNG uses finer linear bins.
HISTOGRAM_EDGES = (0.0, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0, 300.0, math.inf)
SPLIT_METHODS = {
    "hash": "by a hash of each path (--val-fraction)",
    "corpus": "the corpus's own train/ and validation folders",
    "val_list": "--val-list",
}
# Screening measures: report key, its bins (lower edges and the top), label unit and scale, option.
SCREENING = {
    "bandwidth_hz": ((0, 4000, 6000, 8000, 11000, 16000, 20000, math.inf), "kHz", 1e-3, "--min-bandwidth"),
    "clipped_fraction": ((0, 1e-12, 1e-4, 1e-3, 1e-2, math.inf), "%", 100.0, "--max-clipping"),
    "loudness_lufs": (
        (-math.inf, -60, -50, -40, -30, -23, -16, -10, math.inf),
        "LUFS",
        1.0,
        "--min-loudness",
    ),
}
MAX_LISTED = 50  # rejected files / warnings listed one by one in report.md; all are in the JSON files


# -- the report -----------------------------------------------------------------------------------


def _hours(items: Sequence[FileStats]) -> float:
    return sum(s.duration for s in items) / 3600.0


def _percentile(sorted_vals: list[float], q: float) -> float:
    if not sorted_vals:
        return 0.0
    i = q * (len(sorted_vals) - 1)
    lo, hi = math.floor(i), math.ceil(i)
    return sorted_vals[lo] + (sorted_vals[hi] - sorted_vals[lo]) * (i - lo)


def _stats(vals: Sequence[float]) -> dict:
    v = sorted(vals)
    if not v:
        return {}
    return dict(
        min=v[0],
        p05=_percentile(v, 0.05),
        median=_percentile(v, 0.5),
        mean=sum(v) / len(v),
        p95=_percentile(v, 0.95),
        max=v[-1],
    )


def _histogram(durations: Sequence[float]) -> list[dict]:
    rows = []
    for lo, hi in zip(HISTOGRAM_EDGES[:-1], HISTOGRAM_EDGES[1:]):
        inside = [d for d in durations if lo <= d < hi]
        rows.append(
            dict(min_s=lo, max_s=None if math.isinf(hi) else hi, files=len(inside), hours=sum(inside) / 3600)
        )
    return rows


def _screening(good: list[FileStats], rejected: list[dict], opts: PrepareOptions) -> dict:
    """Each screening measure over the files that reached it (kept, or rejected by a screening
    threshold): percentiles, a histogram, its threshold and how many files it rejected."""
    from vocoder_train.data.prepare_options import SCREEN_REASONS

    measured = [s.screening() for s in good] + [x for x in rejected if x["reason"] in SCREEN_REASONS]
    thresholds = (opts.bandwidth_floor or None, opts.max_clipping, opts.min_loudness)
    out = dict(files=len(measured))
    for (key, (edges, *_)), reason, threshold in zip(SCREENING.items(), SCREEN_REASONS, thresholds):
        vals = [m[key] for m in measured if m[key] is not None]
        out[key] = dict(
            **_stats(vals),
            threshold=threshold,
            rejected=sum(x["reason"] == reason for x in rejected),
            histogram=[sum(lo <= v < hi for v in vals) for lo, hi in zip(edges[:-1], edges[1:])],
        )
    return out


def _sample_rate_warnings(good: list[FileStats], opts: PrepareOptions) -> tuple[list[str], list[str]]:
    low = [s.path for s in good if s.sample_rate < opts.sample_rate]
    warnings = []
    if low:
        rates = sorted({s.sample_rate for s in good if s.sample_rate < opts.sample_rate})
        warnings.append(
            f"{len(low)} files ({_hours([s for s in good if s.sample_rate < opts.sample_rate]):.3f} h) are "
            "below the "
            f"training rate {opts.sample_rate} Hz (at {', '.join(map(str, rates))} Hz): they will be "
            "upsampled "
            "and have no content above their own Nyquist frequency"
        )
    if any(s.num_channels > 1 for s in good):
        n = sum(s.num_channels > 1 for s in good)
        warnings.append(f"{n} files have more than one channel: the dataset averages them to mono")
    return warnings, low


def build_report(
    inputs,
    output,
    root,
    train,
    val,
    rejected,
    ignored,
    opts,
    warnings,
    *,
    held_out: int = 0,
    split: dict | None = None,
    pair_channels: int | None = None,
) -> dict:
    """Everything report.json holds: settings, counts and hours per split, rates, durations, rejections.

    ``split``: how train and val were chosen, ``{"method": "hash" | "corpus" | "val_list", "notes": [...]}``.
    ``pair_channels``: with --features, the channel count the feature files had to have.
    """
    good = train + val
    rate_warnings, low = _sample_rate_warnings(good, opts)
    mel_keys = ("hop_length", "n_fft", "n_mels", "mel_padding")
    feature_keys = ("features", "frame_rate", "channels")
    settings = {
        k: v
        for k, v in asdict(opts).items()
        if k not in ("workers", "progress")  # no effect on output
        and (opts.mels or k not in mel_keys)
        and (opts.features or k not in feature_keys)
        and (opts.pair_kind or k != "max_frame_mismatch")
    }
    if opts.features:  # what the files were checked against: their hop and channel count
        from vocoder_train.dsp import frame_hop

        settings.update(channels=pair_channels, hop_length=frame_hop(opts.sample_rate, opts.frame_rate))
    settings["val_fraction"] = opts.fraction  # the share the hash split used, given or default
    settings["min_bandwidth"] = opts.bandwidth_floor
    return dict(
        tool="vocoder-prepare",
        inputs=[os.path.abspath(p) for p in inputs],
        output=os.path.abspath(output),
        common_root=root,
        settings=settings,
        split=split or dict(method="hash", notes=[]),
        totals=dict(
            files=len(good) + len(rejected),
            good=len(good),
            rejected=len(rejected),
            ignored=ignored,
            held_out=held_out,
            hours=_hours(good),
        ),
        splits={
            name: dict(files=len(items), hours=_hours(items), seconds=sum(s.duration for s in items))
            for name, items in (("train", train), ("val", val))
        },
        sample_rates={
            str(sr): dict(files=n, hours=_hours([s for s in good if s.sample_rate == sr]))
            for sr, n in sorted(Counter(s.sample_rate for s in good).items())
        },
        channels={str(k): n for k, n in sorted(Counter(s.num_channels for s in good).items())},
        codecs=dict(sorted(Counter(s.codec for s in good).items())),
        duration_s=_stats([s.duration for s in good]),
        duration_histogram=_histogram([s.duration for s in good]),
        rms_dbfs=_stats([s.rms_db for s in good if s.rms_db is not None]),
        screening=_screening(good, rejected, opts),
        peak_dbfs=_stats([s.peak_db for s in good if s.peak_db is not None]),
        rejected=dict(
            files=len(rejected),
            by_reason={r: sum(x["reason"] == r for x in rejected) for r in opts.reasons()},
        ),
        below_sample_rate=low,
        warnings=warnings + rate_warnings,
    )


def _hms(seconds: float) -> str:
    m, s = divmod(round(seconds), 60)
    return f"{m // 60}:{m % 60:02d}:{s:02d}"


def _fmt_range(row: dict) -> str:
    return f"{row['min_s']:g}+ s" if row["max_s"] is None else f"{row['min_s']:g}-{row['max_s']:g} s"


def render_markdown(report: dict, rejected: list[dict]) -> str:
    """report.md: the same numbers as report.json, for people."""
    t, sp = report["totals"], report["splits"]
    lines = [
        "# Corpus report (vocoder-prepare)",
        "",
        f"Inputs: {', '.join(f'`{p}`' for p in report['inputs'])}  ",
        f"Common root: `{report['common_root']}`  ",
        f"Split: {SPLIT_METHODS[report['split']['method']]}",
        "",
        *(f"- {n}" for n in report["split"]["notes"]),
        *([""] if report["split"]["notes"] else []),
        "| | files | hours | h:mm:ss |",
        "|---|---:|---:|---:|",
        *(
            f"| {n} | {sp[n]['files']} | {sp[n]['hours']:.3f} | {_hms(sp[n]['seconds'])} |"
            for n in ("train", "val")
        ),
        f"| **good** | {t['good']} | {t['hours']:.3f} | {_hms(3600 * t['hours'])} |",
        f"| rejected | {t['rejected']} | | |",
        f"| ignored (not audio, hidden) | {t['ignored']} | | |",
        *([f"| held out (test folders) | {t['held_out']} | | |"] if t["held_out"] else []),
        "",
        "## Sample rates",
        "",
        "| sample rate | files | hours | h:mm:ss |",
        "|---:|---:|---:|---:|",
        *(
            f"| {sr} Hz | {v['files']} | {v['hours']:.3f} | {_hms(3600 * v['hours'])} |"
            for sr, v in report["sample_rates"].items()
        ),
        "",
        f"Training rate: {report['settings']['sample_rate']} Hz. "
        f"Channels: {', '.join(f'{n} x {c}-ch' for c, n in report['channels'].items()) or '-'}. "
        f"Codecs: {', '.join(f'{c} ({n})' for c, n in report['codecs'].items()) or '-'}.",
        "",
        *_duration_lines(report),
        *_screening_lines(report["screening"]),
        *_warning_lines(report),
        *_rejected_lines(report, rejected),
    ]
    return "\n".join(lines) + "\n"


def _duration_lines(report: dict) -> list[str]:
    d, hist = report["duration_s"], report["duration_histogram"]
    most = max((r["files"] for r in hist), default=0) or 1
    lines = ["## Durations", ""]
    if d:
        lines += [
            f"min {d['min']:.2f} s, median {d['median']:.2f} s, mean {d['mean']:.2f} s, "
            f"p95 {d['p95']:.2f} s, max {d['max']:.2f} s",
            "",
        ]
    lines += ["| duration | files | hours | |", "|---|---:|---:|---|"]
    lines += [
        f"| {_fmt_range(r)} | {r['files']} | {r['hours']:.3f} | {'#' * math.ceil(30 * r['files'] / most)} |"
        for r in hist
    ]
    return lines + [""]


def _bin_label(lo: float, hi: float, unit: str, scale: float) -> str:
    if unit == "%" and hi <= 1e-12:
        return "none"
    if math.isinf(lo) or 0 < lo <= 1e-12:  # the first bin, or the first above none
        return f"under {hi * scale:g} {unit}"
    return f"{lo * scale:g}+ {unit}" if math.isinf(hi) else f"{lo * scale:g} to {hi * scale:g} {unit}"


def _screening_lines(screening: dict) -> list[str]:
    names = {"bandwidth_hz": "bandwidth", "clipped_fraction": "clipped samples", "loudness_lufs": "loudness"}
    lines = [
        "## Screening",
        "",
        f"Over the {screening['files']} files that reached it (kept, or rejected by a threshold here).",
        "",
        "| measure | min | p05 | median | p95 | max | threshold | rejected |",
        "|---|---:|---:|---:|---:|---:|---|---:|",
    ]
    for key, (_, unit, scale, option) in SCREENING.items():
        m = screening[key]
        cells = [f"{m[q] * scale:.3g}" if q in m else "-" for q in ("min", "p05", "median", "p95", "max")]
        at = "<=" if option.startswith("--max") else ">="
        limit = "off" if m["threshold"] is None else f"{at} {m['threshold'] * scale:g} {unit} ({option})"
        lines.append(f"| {names[key]} ({unit}) | {' | '.join(cells)} | {limit} | {m['rejected']} |")
    for key, (edges, unit, scale, _) in SCREENING.items():
        counts = screening[key]["histogram"]
        most = max(counts, default=0) or 1
        lines += ["", f"| {names[key]} | files | |", "|---|---:|---|"]
        lines += [
            f"| {_bin_label(lo, hi, unit, scale)} | {n} | {'#' * math.ceil(30 * n / most)} |"
            for lo, hi, n in zip(edges[:-1], edges[1:], counts)
        ]
    return lines + [""]


def _warning_lines(report: dict) -> list[str]:
    if not report["warnings"]:
        return []
    lines = ["## Warnings", "", *(f"- {w}" for w in report["warnings"])]
    low = report["below_sample_rate"]
    if low:
        lines += ["", f"Files below {report['settings']['sample_rate']} Hz:", ""]
        lines += [f"- `{p}`" for p in low[:MAX_LISTED]]
        lines += [f"- ... {len(low) - MAX_LISTED} more in report.json"] if len(low) > MAX_LISTED else []
    return lines + [""]


def _rejected_lines(report: dict, rejected: list[dict]) -> list[str]:
    by = {r: n for r, n in report["rejected"]["by_reason"].items() if n}
    lines = ["## Rejected files", ""]
    if not rejected:
        return lines + ["None.", ""]
    lines += [", ".join(f"{r}: {n}" for r, n in by.items()), "", "| file | reason | why |", "|---|---|---|"]
    lines += [
        f"| `{x['path']}` | {x['reason']} | {x['message'].replace('|', '/')} |" for x in rejected[:MAX_LISTED]
    ]
    if len(rejected) > MAX_LISTED:
        lines += ["", f"... {len(rejected) - MAX_LISTED} more in rejected.jsonl"]
    return lines + [""]


# -- writing --------------------------------------------------------------------------------------


def _atomic_write(dst: Path, write) -> Path:
    """``write(tmp_path)`` then rename onto ``dst``: a reader never sees a half-written file."""
    tmp = dst.with_name(f".{dst.name}.tmp{os.getpid()}")
    try:
        write(tmp)
        os.replace(tmp, dst)
    finally:
        if tmp.exists():
            tmp.unlink()
    return dst


def _write_text(dst: Path, text: str) -> Path:
    return _atomic_write(dst, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def plot_durations(
    dst: Path, train: list[FileStats], val: list[FileStats], min_s: float, max_s: float | None
) -> Path:
    """duration_histogram.png: stacked train / val histogram of file durations, thresholds marked."""
    from matplotlib.figure import Figure  # no pyplot: no global backend state, no display needed

    fig = Figure(figsize=(8, 4), dpi=100)
    ax = fig.subplots()
    data = [[s.duration for s in train], [s.duration for s in val]]
    top = max(max((d for part in data for d in part), default=1.0), 1e-3)
    ax.hist(
        data,
        bins=50,
        range=(0.0, top),
        stacked=True,
        label=["train", "val"],
        color=["tab:blue", "tab:orange"],
    )
    for x, name in ((min_s, "--min-duration"), (max_s, "--max-duration")):
        if x is not None and x <= top:
            ax.axvline(x, color="tab:red", linestyle="--", linewidth=1, label=name)
    ax.set(xlabel="duration (s)", ylabel="files", title=f"{len(train)} train + {len(val)} val files")
    ax.legend()
    fig.tight_layout()
    return _atomic_write(dst, lambda tmp: fig.savefig(tmp, format="png"))


def write_outputs(output: Path, train, val, rejected, report, opts: PrepareOptions) -> dict[str, Path]:
    """Writes the manifests, rejected.jsonl, report.json, report.md and the histogram into ``output``."""
    from vocoder_train.data.manifest import write_manifest

    output.mkdir(parents=True, exist_ok=True)
    files = dict(
        train=write_manifest(output / "train.jsonl", (s.manifest_item() for s in train)),
        val=write_manifest(output / "val.jsonl", (s.manifest_item() for s in val)),
        rejected=write_manifest(output / "rejected.jsonl", rejected),
        report_json=_write_text(
            output / "report.json", json.dumps(report, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
        ),
        report_md=_write_text(output / "report.md", render_markdown(report, rejected)),
        histogram=plot_durations(
            output / "duration_histogram.png", train, val, opts.min_duration, opts.max_duration
        ),
    )
    return files
