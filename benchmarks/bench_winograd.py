"""The MPD's stride-1 wide convolution as Winograd F(m, 5) against ``F.conv2d``, one period at a time.

    python -m benchmarks.bench_winograd [--batch 16] [--segment 16384] [--threads 2] [--layouts]

Forward + backward (input, weight and bias gradients) of the HiFi-GAN MPD's last conv
(1024 -> 1024 channels, kernel (5, 1), stride 1) on the (frames, period) grid it sees for a
``--segment``-sample crop, best of 3 wall-clock runs after a warm-up; the relative error of each
against a float64 ``F.conv2d``.

``--layouts``: a second table for whole period discriminators (base widths): forward + backward in
the grid and the folded layout, in fp32 (Winograd on) and under bf16 autocast (also folded with
``winograd_bf16``); and the error of the bf16 gradients (input, all parameters) against float64,
direct bf16 convs vs Winograd.
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F

from benchmarks.bench_kernels import time_runs
from benchmarks.run import machine_line
from vocoder_train.models.discriminators.vocos import PeriodDiscriminator
from vocoder_train.models.discriminators.winograd import winograd_conv_time

PERIODS = (2, 3, 5, 7, 11)


def best_of(fn, reps: int = 3) -> float:
    return min(time_runs(fn, reps, warmup=1))


def period_gradients(d: PeriodDiscriminator, x: torch.Tensor, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """Gradients (as float64) of a feature-matching-like loss of one period discriminator with respect
    to its input and to all its parameters (concatenated); ``dtype``: float64, float32, or bfloat16
    (fp32 weights under bf16 autocast, as in bf16-mixed training)."""
    d = d.to(torch.float64 if dtype == torch.float64 else torch.float32)
    d.zero_grad()
    x = x.clone().to(d.conv_post.bias.dtype).requires_grad_(True)
    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=dtype == torch.bfloat16):
        y, fmap = d(x)
        loss = y.double().square().mean() + sum(f.double().abs().mean() for f in fmap)
    loss.backward()
    return {
        "input": x.grad.double(),
        "parameters": torch.cat([p.grad.double().flatten() for p in d.parameters()]),
    }


def layout_table(args) -> None:
    print(
        "\nWhole period discriminators (base widths), forward + backward s, batch "
        f"{args.batch} x {args.segment}, in fp32 (Winograd on) and under bf16 autocast, by layout; the "
        "error of the bf16 gradients against float64 (relative L2, batch 4), direct bf16 convs vs the last "
        "conv as bf16 Winograd\n"
    )
    print(
        "| period | fp32 grid | fp32 folded | bf16 grid | bf16 folded | bf16 folded + winograd_bf16 "
        "| input grad error direct / Winograd | parameter grad error direct / Winograd |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for p in PERIODS:
        torch.manual_seed(p)
        d = PeriodDiscriminator(p)
        x = torch.randn(args.batch, args.segment) * 0.3

        def step(precision: str, layout: str, winograd_bf16: bool, d=d, x=x) -> None:
            d.layout, d.winograd, d.winograd_bf16 = layout, True, winograd_bf16
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
                y, fmap = d(x)
                loss = y.float().mean() + sum(f.float().abs().mean() for f in fmap)
            loss.backward()

        cases = (
            ("fp32", "grid", False),
            ("fp32", "folded", False),
            ("bf16", "grid", False),
            ("bf16", "folded", False),
            ("bf16", "folded", True),
        )
        t = [best_of(lambda c=c: step(*c)) for c in cases]
        ref = period_gradients(d, x[:4], torch.float64)
        err = {}
        for on in (False, True):
            d.layout, d.winograd, d.winograd_bf16 = "folded", on, on
            got = period_gradients(d, x[:4], torch.bfloat16)
            err[on] = {k: float((got[k] - ref[k]).norm() / ref[k].norm()) for k in ref}
        print(
            f"| {p} | " + " | ".join(f"{v:.3f}" for v in t) + " | "
            f"{err[False]['input']:.2e} / {err[True]['input']:.2e} | "
            f"{err[False]['parameters']:.2e} / {err[True]['parameters']:.2e} |",
            flush=True,
        )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--segment", type=int, default=16384)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument(
        "--layouts",
        action="store_true",
        help="also the whole-discriminator table: grid vs folded layout in fp32 and bf16, bf16 gradient "
        "error",
    )
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(machine_line(args.threads) + "\n")
    print(
        "| period | frames | direct s | F(2, 5) s | F(4, 5) s | ratio F(4, 5) / direct | rel. error direct | "
        "rel. error F(4, 5) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    torch.manual_seed(0)
    for p in PERIODS:
        frames = -(-args.segment // p)
        for _ in range(4):  # the four stride-3 convs before it
            frames = (frames - 1) // 3 + 1
        x = torch.randn(args.batch, 1024, frames, p, requires_grad=True)
        w = (torch.randn(1024, 1024, 5, 1) / 5120**0.5).requires_grad_(True)
        b = torch.zeros(1024, requires_grad=True)
        t = {"direct": best_of(lambda x=x, w=w, b=b: F.conv2d(x, w, b, padding=(2, 0)).sum().backward())}
        for m in (2, 4):
            t[m] = best_of(lambda m=m, x=x, w=w, b=b: winograd_conv_time(x, w, b, 2, m).sum().backward())
        with torch.no_grad():
            ref = F.conv2d(x.double(), w.double(), b.double(), padding=(2, 0))
            err = {
                k: float((y.double() - ref).norm() / ref.norm())
                for k, y in (
                    ("direct", F.conv2d(x, w, b, padding=(2, 0))),
                    (4, winograd_conv_time(x, w, b, 2, 4)),
                )
            }
        print(
            f"| {p} | {frames} | {t['direct']:.3f} | {t[2]:.3f} | {t[4]:.3f} | {t[4] / t['direct']:.2f} "
            f"| {err['direct']:.1e} | {err[4]:.1e} |",
            flush=True,
        )
    if args.layouts:
        layout_table(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
