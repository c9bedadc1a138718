"""Kernels side by side with their peers, in one process, on the same inputs.

    python -m benchmarks.bench_kernels [--quick] [--threads 2]

Rows: multi-resolution STFT loss forward+backward (ours vs auraloss), mel loss
forward+backward (ours vs vocos' MelSpecReconstructionLoss), biquad EQ cascade on 10 s of
audio (ours vs torchaudio.functional.lfilter). Prints a Markdown table of medians with
min/max; "ratio" is ours / peer (below 1: ours is faster).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable

import numpy as np
import torch

from benchmarks.harness import Benchmark, Options, alternate, entry_point, fmt_s, machine_line, parse


def _fwd_bwd(loss_fn, y_hat: torch.Tensor, y: torch.Tensor) -> Callable[[], float]:
    def run() -> float:
        yh = y_hat.detach().requires_grad_()
        loss = loss_fn(yh, y)
        loss.backward()
        return float(loss.detach())

    return run


def bench_mrstft(batch: int, length: int, reps: int) -> tuple:
    import auraloss

    from vocoder_train.losses.spectral import MultiResolutionSTFTLoss

    g = torch.Generator().manual_seed(0)
    y = 0.3 * torch.randn(batch, length, generator=g)
    y_hat = y + 0.1 * torch.randn(batch, length, generator=g)
    ours = MultiResolutionSTFTLoss()
    peer = (
        auraloss.freq.MultiResolutionSTFTLoss()
    )  # same resolutions: (1024,120,600), (2048,240,1200), (512,50,240)
    f_ours = _fwd_bwd(ours, y_hat, y)
    f_peer = _fwd_bwd(lambda a, b: peer(a[:, None], b[:, None]), y_hat, y)
    return (
        f"MR-STFT loss fwd+bwd, {batch} x {length}",
        f_ours,
        f_peer,
        "auraloss MultiResolutionSTFTLoss",
        reps,
    )


def bench_mel(batch: int, length: int, reps: int) -> tuple:
    from vocos.loss import MelSpecReconstructionLoss

    from vocoder_train.losses.spectral import MelReconstructionLoss

    g = torch.Generator().manual_seed(1)
    y = 0.3 * torch.randn(batch, length, generator=g)
    y_hat = y + 0.1 * torch.randn(batch, length, generator=g)
    ours = MelReconstructionLoss(24000, 1024, 256, 100)
    peer = MelSpecReconstructionLoss(24000, 1024, 256, 100)
    return (
        f"mel loss fwd+bwd, {batch} x {length}",
        _fwd_bwd(ours, y_hat, y),
        _fwd_bwd(peer, y_hat, y),
        "vocos MelSpecReconstructionLoss",
        reps,
    )


def bench_eq(seconds: float, sections: int, reps: int) -> tuple:
    import torchaudio.functional as AF

    from vocoder_train.kernels.augment import biquad_cascade

    sr = 24000
    rng = np.random.default_rng(2)
    x = (0.1 * rng.standard_normal(int(seconds * sr))).astype(np.float32)
    coefs = np.zeros((sections, 6))
    for s in range(sections):  # mild peaking sections at spread-out frequencies
        w0 = 2 * np.pi * (200.0 * 2**s) / sr
        alpha, a_gain = np.sin(w0) / 2.0, 10 ** (3.0 / 40)
        coefs[s] = [
            1 + alpha * a_gain,
            -2 * np.cos(w0),
            1 - alpha * a_gain,
            1 + alpha / a_gain,
            -2 * np.cos(w0),
            1 - alpha / a_gain,
        ]
    sos = (coefs / coefs[:, 3:4])[:, [0, 1, 2, 4, 5]]  # normalised b0 b1 b2 a1 a2
    xt = torch.from_numpy(x)[None]
    b_t = [torch.tensor(coefs[s, :3], dtype=torch.float32) for s in range(sections)]
    a_t = [torch.tensor(coefs[s, 3:], dtype=torch.float32) for s in range(sections)]

    def ours() -> None:
        biquad_cascade(x[None], sos[None].astype(np.float32))

    def peer() -> None:
        out = xt
        for b, a in zip(b_t, a_t):
            out = AF.lfilter(out, a, b, clamp=False)

    return (
        f"EQ cascade ({sections} biquads), {seconds:g} s @ 24 kHz",
        ours,
        peer,
        "torchaudio lfilter chain",
        reps,
    )


def run_cases(opts: Options) -> list[dict]:
    """Runs the cases, ours and peer interleaved; one dict per case (times in seconds)."""
    if opts.quick:
        cases = [bench_mrstft(4, 8192, 3), bench_mel(4, 8192, 3), bench_eq(2.0, 4, 3)]
    else:
        cases = [bench_mrstft(16, 16384, 10), bench_mel(16, 16384, 10), bench_eq(10.0, 4, 10)]
    rows = []
    for name, f_ours, f_peer, peer_name, reps in cases:
        v_ours, v_peer = f_ours(), f_peer()  # also the warm-up
        t = alternate({"ours": f_ours, "peer": f_peer}, reps, opts.now)
        rows.append(
            {
                "case": name,
                "peer": peer_name,
                "ours_s": t["ours"],
                "peer_s": t["peer"],
                "value_ours": v_ours if isinstance(v_ours, float) else None,
                "value_peer": v_peer if isinstance(v_peer, float) else None,
            }
        )
    return rows


def format_table(rows: list[dict], opts: Options | None = None) -> str:
    lines = [
        "| case | ours median ms (min-max) | peer | peer median ms (min-max) | ratio ours/peer | values ours "
        "/ peer |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        t_ours, t_peer = r["ours_s"], r["peer_s"]
        ratio = statistics.median(t_ours) / statistics.median(t_peer)
        vals = f"{r['value_ours']:.6f} / {r['value_peer']:.6f}" if r["value_ours"] is not None else "-"
        lines.append(
            f"| {r['case']} | {fmt_s(t_ours, 1e3)} | {r['peer']} | {fmt_s(t_peer, 1e3)} | {ratio:.3f} "
            f"| {vals} |"
        )
    return "\n".join(lines)


BENCHMARK = Benchmark("kernels", "Loss kernels (ours vs peer, forward + backward)", run_cases, format_table)


def main(argv: list[str] | None = None) -> int:
    import numba

    ap = entry_point(__doc__, help="torch and numba threads")
    ap.add_argument("--quick", action="store_true", help="small sizes and few repetitions")
    args = parse(ap, argv)
    opts = Options(quick=args.quick, threads=args.threads)
    rows = run_cases(opts)
    layer = numba.threading_layer()
    print(f"{machine_line(args.threads)}; numba {numba.__version__} ({layer})\n")
    print(format_table(rows, opts))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
