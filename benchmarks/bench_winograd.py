"""The MPD's stride-1 wide convolution as Winograd F(m, 5) against ``F.conv2d``, one period at a time.

    python -m benchmarks.bench_winograd [--quick] [--batch 16] [--segment 16384] [--threads 2] [--layouts]
    python -m benchmarks.run --only winograd [--quick]      # the first table, as a section

Forward + backward (input, weight and bias gradients) of the HiFi-GAN MPD's last conv
(1024 -> 1024 channels, kernel (5, 1), stride 1) on the (frames, period) grid it sees for a
``--segment``-sample crop, best of 3 runs after a warm-up; the relative error of each against a
float64 ``F.conv2d``. ``--quick``: batch 2 x 8192.

``--layouts``: a second table for whole period discriminators (base widths): forward + backward in
the grid and the folded layout, in fp32 (Winograd on) and under bf16 autocast (also folded with
``winograd_bf16``); and the error of the bf16 gradients (input, all parameters) against float64,
direct bf16 convs vs Winograd.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from benchmarks.harness import Benchmark, Options, entry_point, machine_line, parse, progress, time_runs
from vocoder_train.models.discriminators.vocos import PeriodDiscriminator
from vocoder_train.models.discriminators.winograd import winograd_conv_time

PERIODS = (2, 3, 5, 7, 11)


def best_of(fn, opts: Options, reps: int = 3) -> float:
    return min(time_runs(fn, reps, warmup=1, clock=opts.now))


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


def run(opts: Options) -> list[dict]:
    """The last MPD conv per period: seconds of direct, F(2, 5), F(4, 5); errors against float64."""
    rows = []
    torch.manual_seed(0)
    for p in PERIODS:
        frames = -(-opts.segment // p)
        for _ in range(4):  # the four stride-3 convs before it
            frames = (frames - 1) // 3 + 1
        x = torch.randn(opts.batch, 1024, frames, p, requires_grad=True)
        w = (torch.randn(1024, 1024, 5, 1) / 5120**0.5).requires_grad_(True)
        b = torch.zeros(1024, requires_grad=True)
        t = {
            "direct": best_of(lambda x=x, w=w, b=b: F.conv2d(x, w, b, padding=(2, 0)).sum().backward(), opts)
        }
        for m in (2, 4):
            t[m] = best_of(
                lambda m=m, x=x, w=w, b=b: winograd_conv_time(x, w, b, 2, m).sum().backward(), opts
            )
        with torch.no_grad():
            ref = F.conv2d(x.double(), w.double(), b.double(), padding=(2, 0))
            err = {
                k: float((y.double() - ref).norm() / ref.norm())
                for k, y in (
                    ("direct", F.conv2d(x, w, b, padding=(2, 0))),
                    (4, winograd_conv_time(x, w, b, 2, 4)),
                )
            }
        rows.append({"period": p, "frames": frames, "s": t, "rel_error": err})
        progress("winograd", f"period {p}")
    return rows


def format_conv(rows: list[dict], opts: Options) -> str:
    lines = [
        "The MPD's last conv (1024 -> 1024 channels, kernel (5, 1)), forward + backward, batch "
        f"{opts.batch} x {opts.segment}, best of 3 after a warm-up; relative error against float64 F.conv2d",
        "",
        "| period | frames | direct s | F(2, 5) s | F(4, 5) s | ratio F(4, 5) / direct | rel. error direct | "
        "rel. error F(4, 5) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        t, err = r["s"], r["rel_error"]
        lines.append(
            f"| {r['period']} | {r['frames']} | {t['direct']:.3f} | {t[2]:.3f} | {t[4]:.3f} "
            f"| {t[4] / t['direct']:.2f} | {err['direct']:.1e} | {err[4]:.1e} |"
        )
    return "\n".join(lines)


BENCHMARK = Benchmark("winograd", "Winograd F(m, 5) vs direct conv, the MPD's last conv", run, format_conv)


# -- whole period discriminators, by layout --------------------------------------------------------

LAYOUT_CASES = (  # (precision, layout, winograd_bf16)
    ("fp32", "grid", False),
    ("fp32", "folded", False),
    ("bf16", "grid", False),
    ("bf16", "folded", False),
    ("bf16", "folded", True),
)


def run_layouts(opts: Options) -> list[dict]:
    """Per period: seconds of each of :data:`LAYOUT_CASES`, and the bf16 gradients' error against
    float64 with direct convs (False) and with Winograd (True)."""
    rows = []
    for p in PERIODS:
        torch.manual_seed(p)
        d = PeriodDiscriminator(p)
        x = torch.randn(opts.batch, opts.segment) * 0.3

        def step(precision: str, layout: str, winograd_bf16: bool, d=d, x=x) -> None:
            d.layout, d.winograd, d.winograd_bf16 = layout, True, winograd_bf16
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
                y, fmap = d(x)
                loss = y.float().mean() + sum(f.float().abs().mean() for f in fmap)
            loss.backward()

        t = [best_of(lambda c=c: step(*c), opts) for c in LAYOUT_CASES]
        ref = period_gradients(d, x[:4], torch.float64)
        err = {}
        for on in (False, True):
            d.layout, d.winograd, d.winograd_bf16 = "folded", on, on
            got = period_gradients(d, x[:4], torch.bfloat16)
            err[on] = {k: float((got[k] - ref[k]).norm() / ref[k].norm()) for k in ref}
        rows.append({"period": p, "s": t, "grad_error": err})
        progress("winograd layouts", f"period {p}")
    return rows


def format_layouts(rows: list[dict], opts: Options) -> str:
    lines = [
        "Whole period discriminators (base widths), forward + backward s, batch "
        f"{opts.batch} x {opts.segment}, in fp32 (Winograd on) and under bf16 autocast, by layout; the "
        "error of the bf16 gradients against float64 (relative L2, batch 4), direct bf16 convs vs the last "
        "conv as bf16 Winograd",
        "",
        "| period | fp32 grid | fp32 folded | bf16 grid | bf16 folded | bf16 folded + winograd_bf16 "
        "| input grad error direct / Winograd | parameter grad error direct / Winograd |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        err = r["grad_error"]
        lines.append(
            f"| {r['period']} | " + " | ".join(f"{v:.3f}" for v in r["s"]) + " | "
            f"{err[False]['input']:.2e} / {err[True]['input']:.2e} | "
            f"{err[False]['parameters']:.2e} / {err[True]['parameters']:.2e} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = entry_point(__doc__, help="torch threads")
    ap.add_argument("--quick", action="store_true", help="batch 2 x 8192")
    ap.add_argument("--batch", type=int, default=None, help="default 16; --quick: 2")
    ap.add_argument("--segment", type=int, default=None, help="default 16384; --quick: 8192")
    ap.add_argument(
        "--layouts",
        action="store_true",
        help="also the whole-discriminator table: grid vs folded layout in fp32 and bf16, bf16 gradient "
        "error",
    )
    args = parse(ap, argv)
    opts = Options.resolve(args.quick, args.batch, args.segment, threads=args.threads)
    print(machine_line(args.threads) + "\n")
    print(format_conv(run(opts), opts), flush=True)
    if args.layouts:
        print("\n" + format_layouts(run_layouts(opts), opts))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
