"""Streaming decode: per-chunk compute and latency of the streamers, and the look-ahead's error.

    python -m benchmarks.bench_stream [--quick] [--small] [--threads 1] [--lookahead 4] [--json out.json]
    python -m benchmarks.bench_stream --errors runs/demo/checkpoints/last.ckpt --data runs/demo/data/val.jsonl
    python -m benchmarks.bench_stream --quality /tmp/causality    # trains twice (slow)

Speed table (:func:`run` / :func:`format_stream`; the ``stream`` section of ``benchmarks.run``):
base-size generators (``--small``: the demo's size) with random weights (speed does not depend on
training), 10 s of mel at 24 kHz (2 s with ``--quick``) pushed in chunks of 1, 2, 4, 8, 16 and 32
frames, batch 1, through

* the causal generator (``model/generator=vocos_causal``; ``vocos_causal_small``) in PyTorch
  (carried state, eager) and in ONNX Runtime (the ``--format onnx-stream`` graph);
* vocos' non-causal generator (``vocos_base``; ``vocos_small``) with ``--lookahead`` frames held
  back, re-decoding its receptive field each push (PyTorch, the fused engine ``vocoder-synthesize`` uses).

Columns: algorithmic latency (:mod:`vocoder_train.models.inference.streaming`), per-push compute
median and p95, wall time to the first audio, real-time factor (compute / audio). One warm-up
stream of 1 s runs before each timed one.

Error table (``--errors MODEL --data MANIFEST``, :func:`lookahead_errors`): a trained non-causal
model's look-ahead stream against its offline decode, on the mels of the manifest's files, in
chunks of one frame (each sample sees exactly ``k`` frames of look-ahead), for k = 0, 2, 4, 8:
max abs difference, RMS difference and the SNR of the offline output over the difference; and what
the streamed audio scores against the recordings (mel L1, PESQ-wb), beside the offline decode's.

Quality cost of causality (``--quality DIR``, :func:`quality_cost`): the demo recipe trained twice on
the shipped corpus, ``vocos_small`` and ``vocos_causal_small``, with the demo's 2100 optimizer steps
(its 7-minute cap lifted, so a loaded machine cannot cut one run shorter than the other), ``--threads``
threads each, one after the other; then one ``vocoder-evaluate`` A/B of both on the held-out files
(CREPE tiny). Everything is written under DIR.
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path

import torch

from benchmarks.harness import BIN, Benchmark, Options, entry_point, machine_line, parse, run_logged
from benchmarks.upstream import HOP, N_MELS, SR

CHUNKS = (1, 2, 4, 8, 16, 32)
LOOKAHEADS = (0, 2, 4, 8)


def _generator(name: str):
    """A shipped generator config (configs/model/generator/<name>.yaml) at the base 24 kHz signal,
    built with random weights; returns (generator, vocos config)."""
    from hydra import compose, initialize_config_dir

    from vocoder_train.config import CONFIG_DIR
    from vocoder_train.models.generator import build_generator, to_vocos_config

    with initialize_config_dir(CONFIG_DIR, version_base="1.3"):
        cfg = compose("train", overrides=[f"model/generator={name}"])
    torch.manual_seed(0)
    return build_generator(cfg.model.generator).eval(), to_vocos_config(
        cfg.model.generator, cfg.audio.sample_rate
    )


def streamers(opts: Options, folder: Path) -> dict:
    """name -> a function making a fresh streamer, for the rows of the speed table."""
    from vocoder_train.dsp import causal_latency
    from vocoder_train.models.export_formats import write_onnx_stream
    from vocoder_train.models.graph_vocoders import onnx_session
    from vocoder_train.models.inference.stream_step import onnx_initial_state, onnx_step
    from vocoder_train.models.inference.streaming import CarriedStateStreamer
    from vocoder_train.models.vocoder import TorchVocoder

    names = ("vocos_causal_small", "vocos_small") if opts.small else ("vocos_causal", "vocos_base")
    causal, causal_cfg = _generator(names[0])
    plain, plain_cfg = _generator(names[1])
    torch_causal = TorchVocoder(causal, folder / names[0], "vocos", causal_cfg, SR, engine="eager")
    torch_plain = TorchVocoder(plain, folder / names[1], "vocos", plain_cfg, SR, engine="fused")
    files = write_onnx_stream(causal, causal_cfg, folder, [torch.zeros(1, N_MELS, 8)], 17)
    session = onnx_session(folder / files[-1], threads=opts.threads)
    latency = causal_latency(causal.head.istft.n_fft, HOP)
    k = opts.lookahead
    return {
        f"{names[0]}, PyTorch (carried state)": torch_causal.stream,
        f"{names[0]}, ONNX Runtime (onnx-stream)": lambda: CarriedStateStreamer(
            onnx_step(session), onnx_initial_state(session), HOP, SR, latency
        ),
        f"{names[1]} (non-causal), look-ahead {k}, PyTorch fused": lambda: torch_plain.stream(lookahead=k),
    }


def run(opts: Options) -> dict:
    """The speed table's figures. Uses ``opts.quick``, ``opts.threads``, ``opts.lookahead`` and
    ``opts.small`` (the demo-size generators)."""
    from vocoder_train.evaluation.timing import stream_figures, stream_mel

    seconds = 2.0 if opts.quick else 10.0
    mel = torch.randn(1, N_MELS, round(seconds * SR / HOP), generator=torch.Generator().manual_seed(0)) - 3
    rows: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, make in streamers(opts, Path(tmp)).items():
            rows[name] = []
            for chunk in CHUNKS:
                stream_mel(make(), mel[..., : SR // HOP], chunk)  # warm-up
                streamer = make()
                _, timing = stream_mel(streamer, mel, chunk)
                rows[name].append(stream_figures(streamer, timing, mel.shape[-1] * HOP / SR, chunk))
    return {"rows": rows, "seconds": seconds, "lookahead": opts.lookahead}


def format_stream(res: dict, opts: Options) -> str:
    """Markdown: one row per streamer and chunk size."""
    lines = [
        f"Streaming decode, {res['seconds']:g} s of mel at {SR // 1000} kHz (hop {HOP}), batch 1, "
        "generators with random weights; compute per push (ms), wall time to the first audio (ms), "
        "RTF = compute / audio",
        "",
        "| streamer | chunk (frames / ms) | algorithmic latency (ms) | per-chunk median | p95 | first audio "
        "| RTF |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, rows in res["rows"].items():
        for r in rows:
            latency = "n/a" if r["latency_ms"] is None else f"{r['latency_ms']:.1f}"
            lines.append(
                f"| {name} | {r['chunk_frames']} / {r['chunk_ms']:.1f} | {latency} | "
                f"{r['chunk_ms_median']:.2f} "
                f"| {r['chunk_ms_p95']:.2f} | {r['first_audio_ms']:.1f} | {r['rtf']:.3f} |"
            )
    return "\n".join(lines)


BENCHMARK = Benchmark("stream", "Streaming", run, format_stream)


# -- the look-ahead's error ------------------------------------------------------------------------


def lookahead_errors(
    model: str | Path, data: str | Path, ks=LOOKAHEADS, max_files: int | None = None
) -> dict:
    """Per look-ahead k: max abs and RMS difference between the look-ahead stream (chunks of one
    frame) and the offline decode of the same model, over the mels of ``data``'s files, the SNR (dB)
    of the offline output over that difference, and the mean mel L1 and PESQ-wb of the stream
    against the recordings (``offline``: those of the offline decode); plus the exact look-ahead."""
    from vocoder_train.api import load_vocoder
    from vocoder_train.data.manifest import read_manifest
    from vocoder_train.io.audio import load_audio
    from vocoder_train.metrics import compute_metrics
    from vocoder_train.models.inference.streaming import exact_lookahead, stream_decode

    vocoder = load_vocoder(model, engine="fused")  # fp32: the differences measured are the look-ahead's alone
    recordings = [
        load_audio(item["path"], sample_rate=vocoder.sample_rate)[0][0]
        for item in read_manifest(data)[: max_files or None]
    ]
    mels = [vocoder.features(r[None]) for r in recordings]
    refs = [vocoder.decode(m) for m in mels]

    def scores(outputs: list[torch.Tensor]) -> dict[str, float]:
        rows = [
            compute_metrics(r, o[0], vocoder.sample_rate, ("mel_l1", "pesq"))
            for r, o in zip(recordings, outputs)
        ]
        return {name: sum(row[name] for row in rows) / len(rows) for name in ("mel_l1", "pesq")}

    out = {
        "model": str(model),
        "data": str(data),
        "files": len(mels),
        "exact_from": exact_lookahead(vocoder),
        "offline": scores(refs),
        "k": {},
    }
    for k in ks:
        worst, err2, ref2, n, streamed = 0.0, 0.0, 0.0, 0, []
        for mel, ref in zip(mels, refs, strict=True):
            streamed.append(stream_decode(vocoder.stream(lookahead=k), mel, 1))
            diff = streamed[-1] - ref
            worst = max(worst, diff.abs().max().item())
            err2, ref2, n = (
                err2 + diff.square().sum().item(),
                ref2 + ref.square().sum().item(),
                n + diff.numel(),
            )
        snr = math.inf if err2 == 0 else 10 * math.log10(ref2 / err2)
        out["k"][k] = {
            "max_abs": worst,
            "rms": math.sqrt(err2 / n),
            "snr_db": snr,
            "latency_ms": vocoder.stream(lookahead=k).latency_ms,
            **scores(streamed),
        }
    return out


def format_errors(res: dict) -> str:
    lines = [
        f"Look-ahead stream vs offline decode: `{res['model']}`, {res['files']} files of `{res['data']}`, "
        "chunks of "
        f"1 frame (exact from k = {res['exact_from']})",
        "",
        "| look-ahead k (frames) | algorithmic latency (ms) | max abs diff | RMS diff | SNR vs offline (dB) "
        "| mel L1 vs recording | PESQ-wb vs recording |",
        "|---|---|---|---|---|---|---|",
    ]
    for k, r in res["k"].items():
        lines.append(
            f"| {k} | {r['latency_ms']:.1f} | {r['max_abs']:.3g} | {r['rms']:.3g} | {r['snr_db']:.1f} "
            f"| {r['mel_l1']:.3f} | {r['pesq']:.2f} |"
        )
    off = res["offline"]
    lines.append(f"| offline decode | - | 0 | 0 | - | {off['mel_l1']:.3f} | {off['pesq']:.2f} |")
    return "\n".join(lines)


# -- the quality cost of causality -----------------------------------------------------------------

DEMO = Path(__file__).resolve().parent.parent / "recipes" / "demo" / "corpus"
GENERATORS = {"non-causal vocos_small": "vocos_small", "causal vocos_causal_small": "vocos_causal_small"}
GRIFFIN_LIM = "Griffin-Lim on A's mel"  # vocoder-evaluate's A/B baseline, for scale


def quality_cost(folder: Path, threads: int = 1) -> dict:
    """Trains the demo recipe with each of :data:`GENERATORS` into ``folder`` and evaluates them
    A/B on the held-out files; returns the per-metric means and the per-file deltas of B - A."""
    import os

    from vocoder_train.api import evaluate

    folder, data = folder.resolve(), folder.resolve() / "data"
    folder.mkdir(parents=True, exist_ok=True)
    os.environ["OMP_NUM_THREADS"] = str(threads)  # the tools below, started as subprocesses
    run_logged(
        [
            str(BIN / "vocoder-prepare"),
            str(DEMO),
            "--output",
            str(data),
            "--sample-rate",
            str(SR),
            "--val-list",
            str(DEMO / "heldout.txt"),
            "--no-progress",
        ],
        folder / "prepare.log",
    )
    ckpts = []
    for name in GENERATORS.values():
        print(f"training experiment=demo model/generator={name} ...", flush=True)
        run_logged(
            [
                str(BIN / "vocoder-train"),
                "experiment=demo",
                f"model/generator={name}",
                f"run_name={name}",
                f"paths.runs_dir={folder}",
                f"data.train={data / 'train.jsonl'}",
                f"data.val={data / 'val.jsonl'}",
                f"cpu_threads={threads}",
                "trainer.max_time=null",
                "callbacks.progress_bar=null",
            ],
            folder / f"{name}.log",
        )
        ckpts.append(folder / name / "checkpoints" / "last.ckpt")
    result = evaluate(ckpts, data / "val.jsonl", folder / "eval_ab", crepe_model="tiny", progress=False)
    means = result.aggregate()
    labels = dict(zip([*GENERATORS, GRIFFIN_LIM], result.labels, strict=False))
    return {
        "files": len(result.rows),
        "metrics": list(result.metrics),
        "models": {k: str(c) for k, c in zip(GENERATORS, ckpts)},
        "means": {name: {m: means[lab][m]["mean"] for m in result.metrics} for name, lab in labels.items()},
        "b_minus_a": {
            m: summarize_delta(result.values(result.labels[1], m) - result.values(result.labels[0], m))
            for m in result.metrics
        },
    }


def summarize_delta(delta) -> dict[str, float]:
    return {"mean": float(delta.mean()), "std": float(delta.std()), "n": int(delta.size)}


def format_quality(res: dict) -> str:
    a, b = GENERATORS
    lines = [
        f"Quality cost of causality: demo recipe, same budget, {res['files']} held-out files "
        "(vocoder-evaluate A/B, CREPE tiny)",
        "",
        f"| metric | {a} (A) | {b} (B) | B - A per file (mean ± std) | {GRIFFIN_LIM} |",
        "|---|---|---|---|---|",
    ]
    for m in res["metrics"]:
        d, gl = res["b_minus_a"][m], res["means"].get(GRIFFIN_LIM, {}).get(m, float("nan"))
        lines.append(
            f"| {m} | {res['means'][a][m]:.4g} | {res['means'][b][m]:.4g} | {d['mean']:+.4g} ± "
            f"{d['std']:.3g} "
            f"| {gl:.4g} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = entry_point(__doc__, threads=1, help="torch / onnxruntime threads (default 1)")
    ap.add_argument("--quick", action="store_true", help="2 s of mel instead of 10 s")
    ap.add_argument(
        "--lookahead", type=int, default=4, help="the non-causal row's look-ahead in frames (default 4)"
    )
    ap.add_argument(
        "--small", action="store_true", help="the demo-size generators (vocos_causal_small, vocos_small)"
    )
    ap.add_argument(
        "--errors", default=None, metavar="MODEL", help="only the error table, for this trained model"
    )
    ap.add_argument(
        "--data", default=None, help="with --errors: manifest or filelist of the audio to compare on"
    )
    ap.add_argument(
        "--quality",
        default=None,
        metavar="DIR",
        type=Path,
        help="only the quality cost of causality: train both demo models into DIR and compare them",
    )
    ap.add_argument("--json", default=None, help="also write the raw results here")
    args = parse(ap, argv)
    if args.quality:
        res = quality_cost(args.quality, args.threads)
        print(machine_line(args.threads) + "\n\n" + format_quality(res))
    elif args.errors:
        if not args.data:
            ap.error("--errors needs --data MANIFEST (e.g. runs/demo/data/val.jsonl)")
        res = lookahead_errors(args.errors, args.data)
        print(machine_line(args.threads) + "\n\n" + format_errors(res))
    else:
        opts = Options(quick=args.quick, threads=args.threads, lookahead=args.lookahead, small=args.small)
        res = run(opts)
        print(machine_line(args.threads) + "\n\n" + format_stream(res, opts))
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
