"""Deployment: parameters, one-thread decode real-time factor of the fp32 and int8 ONNX graphs, and the
quality int8 costs, for trained checkpoints.

    python -m benchmarks.bench_deploy runs/demo/checkpoints/last.ckpt --data runs/demo/data/val.jsonl
    python -m benchmarks.bench_deploy small/last.ckpt base/last.ckpt --data val.jsonl --method dynamic static

Each checkpoint goes through ``vocoder-export -f onnx --quantize int8`` once per ``--method``
(:func:`vocoder_train.models.export.export` with the quality gate forced open, into a temporary
folder): its report holds the fp32 and int8 graphs'
real-time factors (one-thread ONNX Runtime sessions, alternated, thread CPU seconds, so other load on
a shared machine does not count) and their mel L1 / PESQ on ``--data``. Not part of ``make bench``:
it needs trained checkpoints.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from benchmarks.harness import entry_point, machine_line, parse


def measure(checkpoint: Path, data: Path, files: int, method: str) -> dict:
    """One checkpoint's row: parameters and its int8 export's report."""
    from vocoder_train.models.export import export
    from vocoder_train.models.quantize import QuantizeSettings

    settings = QuantizeSettings(method=method, quality_data=data, force_quality=True, files=files)
    with tempfile.TemporaryDirectory() as tmp:
        result = export(checkpoint, Path(tmp) / "int8", "onnx", quantize=settings)
    return {"checkpoint": str(checkpoint), "parameters": result.parameters, "report": result.quantization}


def table(rows: list[dict]) -> str:
    lines = [
        "| checkpoint | int8 method | parameters | RTF fp32 ONNX | RTF int8 ONNX | speed-up | "
        "PESQ fp32 -> int8 | mel L1 fp32 -> int8 | max abs diff fp32 vs int8 | MB fp32 -> int8 |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        r = row["report"]
        f, q = r.scores["fp32"], r.scores["int8"]
        lines.append(
            f"| {row['checkpoint']} | {r.method} | {row['parameters'] / 1e6:.2f}M | {r.rtf['fp32']:.4f} | "
            f"{r.rtf['int8']:.4f} | x{r.speedup:.2f} | {f['pesq']:.3f} -> {q['pesq']:.3f} | "
            f"{f['mel_l1']:.4f} -> {q['mel_l1']:.4f} | {r.max_abs_diff:.2e} | "
            f"{r.bytes['fp32'] / 1e6:.1f} -> {r.bytes['int8'] / 1e6:.1f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from vocoder_train.models.quantize import DEFAULT_METHOD, METHODS, QUALITY_FILES

    ap = entry_point(__doc__, threads=1, help="torch threads (the ONNX sessions use one thread)")
    ap.add_argument("checkpoints", nargs="+", type=Path, help="training checkpoints (.ckpt)")
    ap.add_argument("--data", type=Path, required=True, help="manifest, filelist or folder scored")
    ap.add_argument(
        "--files", type=int, default=QUALITY_FILES, help=f"files of --data (default {QUALITY_FILES})"
    )
    ap.add_argument(
        "--method",
        nargs="+",
        choices=METHODS,
        default=[DEFAULT_METHOD],
        help=f"int8 quantization method(s), one row each (default {DEFAULT_METHOD})",
    )
    args = parse(ap, argv)
    rows = [measure(c, args.data, args.files, m) for c in args.checkpoints for m in args.method]
    r = rows[0]["report"]
    print(machine_line(args.threads, clock="thread"))
    print(
        f"{r.files} files of {args.data}; real-time factor = decode seconds / audio "
        "seconds, one-thread ONNX Runtime session, mel -> waveform (the mel front end not counted)\n"
    )
    print(table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
