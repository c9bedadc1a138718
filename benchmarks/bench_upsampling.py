"""A low-frame-rate decoder with and without the backbone's upsampling, on features computable here.

    python -m benchmarks.bench_upsampling                       # hop 1920 (Mimi's frame at 24 kHz), x4
    python -m benchmarks.bench_upsampling --hop 1920 --factor 4 --steps 2100

A codec at 12.5 frames a second (Mimi) gives one feature vector every 1920 samples at 24 kHz. Random codec
weights say nothing about quality, so both decoders learn from a mel spectrogram at that hop (n_fft = 4 x
hop) on the demo corpus, with the same step budget, model size, losses and crops (experiment cpu_small,
crops of 8 frames):

* ``plain``: vocos' backbone and an ISTFT head at hop 1920 (n_fft 7680): one hidden vector a frame;
* ``upsampled``: :class:`~vocoder_train.models.upsampling.UpsamplingBackbone` raising the frame rate
  ``--factor`` times before its blocks, the head at hop 1920 / factor (n_fft 4 x that).

Each is scored on whole-file copy synthesis of the held-out files (``benchmarks.quality``'s scoring: mel
L1, MR-STFT, PESQ-wb, STOI); training wall time is printed beside, measured on the same machine.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from benchmarks.harness import BIN, ROOT, machine_line, run_logged
from benchmarks.quality import train_and_score


def arms(hop: int, factor: int) -> dict[str, list[str]]:
    """The two decoders' Hydra overrides on experiment cpu_small."""
    common = [
        f"model.generator.feature_extractor.hop_length={hop}",
        f"model.generator.feature_extractor.n_fft={4 * hop}",
        f"audio.segment_length={8 * hop}",
        f"data.val_segment_length={24 * hop}",
    ]
    return {
        "plain": [*common, f"model.generator.head.hop_length={hop}", f"model.generator.head.n_fft={4 * hop}"],
        "upsampled": [
            *common,
            "model.generator.backbone._target_=vocoder_train.models.upsampling.UpsamplingBackbone",
            f"+model.generator.backbone.upsample={factor}",
            f"model.generator.head.hop_length={hop // factor}",
            f"model.generator.head.n_fft={4 * hop // factor}",
        ],
    }


def main(argv: list[str] | None = None) -> int:
    from vocoder_train.config.runtime import setup

    setup()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--hop", type=int, default=1920, help="feature hop in samples at 24 kHz (default 1920)")
    p.add_argument("--factor", type=int, default=4, help="the upsampled arm's factor (default 4)")
    p.add_argument("--steps", type=int, default=2100, help="optimizer steps of each arm (default 2100)")
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--corpus", type=Path, default=ROOT / "recipes/demo/corpus")
    p.add_argument("--output", type=Path, default=ROOT / "runs/upsampling")
    p.add_argument(
        "--arms",
        nargs="+",
        choices=("plain", "upsampled"),
        default=["plain", "upsampled"],
        help="train only these (the table also shows arms an earlier run left in --output)",
    )
    args = p.parse_args(argv)
    if args.hop % args.factor:
        p.error(f"--hop {args.hop} is not a multiple of --factor {args.factor}")
    out = args.output.resolve()
    data = out / "data"
    out.mkdir(parents=True, exist_ok=True)
    prepare = [str(BIN / "vocoder-prepare"), str(args.corpus), "--output", str(data)]
    run_logged(
        [*prepare, "--val-list", str(args.corpus / "heldout.txt"), "--no-progress"], out / "prepare.log"
    )
    saved = out / "upsampling.json"
    results = json.loads(saved.read_text()) if saved.is_file() else {}
    for name, overrides in arms(args.hop, args.factor).items():
        if name not in args.arms:
            continue
        run_args = argparse.Namespace(
            experiment="cpu_small",
            seed=args.seed,
            overrides=[*overrides, f"trainer.max_steps={args.steps}", "trainer.max_time=null"],
        )
        (out / name).mkdir(exist_ok=True)
        results[name] = train_and_score(run_args, 86400, out / name, data)
        saved.write_text(json.dumps(results, indent=2))
    first = next(iter(results.values()))
    print(f"\n{machine_line(first['threads'])}")
    print(
        f"features: log-mel, hop {args.hop} (n_fft {4 * args.hop}) at 24 kHz; {args.steps} optimizer steps "
        f"each; {first['heldout_files']} held-out files, whole-file copy synthesis\n"
    )
    print("| decoder | head hop / n_fft | train wall s | mel L1 (lower) | MR-STFT (lower) | PESQ-wb | STOI |")
    print("|---|---|---|---|---|---|---|")
    for name, r in results.items():
        hop = args.hop if name == "plain" else args.hop // args.factor
        v = r["results"]["ours"]
        print(
            f"| {name}{'' if name == 'plain' else f' x{args.factor}'} | {hop} / {4 * hop} | "
            f"{r['train_wall_s']:.0f} | {v['mel_l1']:.3f} | {v['mrstft']:.3f} | {v['pesq']:.2f} | "
            f"{v['stoi']:.3f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
