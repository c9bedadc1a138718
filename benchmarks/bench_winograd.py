"""The MPD's stride-1 wide convolution as Winograd F(m, 5) against ``F.conv2d``, one period at a time.

    python -m benchmarks.bench_winograd [--batch 16] [--segment 16384] [--threads 2]

Forward + backward (input, weight and bias gradients) of the HiFi-GAN MPD's last conv
(1024 -> 1024 channels, kernel (5, 1), stride 1) on the (frames, period) grid it sees for a
``--segment``-sample crop, best of 3 wall-clock runs after a warm-up; the relative error of each
against a float64 ``F.conv2d``.
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F

from benchmarks.bench_kernels import time_runs
from benchmarks.run import machine_line
from vocoder_train.models.discriminators.winograd import winograd_conv_time

PERIODS = (2, 3, 5, 7, 11)


def best_of(fn, reps: int = 3) -> float:
    return min(time_runs(fn, reps, warmup=1))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--segment", type=int, default=16384)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(machine_line(args.threads) + "\n")
    print("| period | frames | direct s | F(2, 5) s | F(4, 5) s | ratio F(4, 5) / direct | rel. error direct | rel. error F(4, 5) |")
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
            err = {k: float((y.double() - ref).norm() / ref.norm()) for k, y in
                   (("direct", F.conv2d(x, w, b, padding=(2, 0))), (4, winograd_conv_time(x, w, b, 2, 4)))}
        print(f"| {p} | {frames} | {t['direct']:.3f} | {t[2]:.3f} | {t[4]:.3f} | {t[4] / t['direct']:.2f} "
              f"| {err['direct']:.1e} | {err[4]:.1e} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
