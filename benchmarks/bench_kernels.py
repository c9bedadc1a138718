"""Kernels side by side with their peers, in one process, on the same inputs.

    python benchmarks/bench_kernels.py [--quick] [--threads 2]

Rows: multi-resolution STFT loss forward+backward (ours vs auraloss), mel loss
forward+backward (ours vs vocos' MelSpecReconstructionLoss), biquad EQ cascade on 10 s of
audio (ours vs torchaudio.functional.lfilter). Prints a Markdown table of medians with
min/max; "ratio" is ours / peer (below 1: ours is faster).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch


def time_runs(fn: Callable[[], object], reps: int, warmup: int = 2) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


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


def run_cases(quick: bool = False) -> list[dict]:
    """Runs the cases, ours and peer interleaved; one dict per case (times in seconds)."""
    if quick:
        cases = [bench_mrstft(4, 8192, 3), bench_mel(4, 8192, 3), bench_eq(2.0, 4, 3)]
    else:
        cases = [bench_mrstft(16, 16384, 10), bench_mel(16, 16384, 10), bench_eq(10.0, 4, 10)]
    rows = []
    for name, f_ours, f_peer, peer_name, reps in cases:
        v_ours, v_peer = f_ours(), f_peer()
        # interleave the two so that machine-load drift hits both alike
        t_ours, t_peer = [], []
        for _ in range(reps):
            t_ours += time_runs(f_ours, 1, warmup=0)
            t_peer += time_runs(f_peer, 1, warmup=0)
        rows.append(
            {
                "case": name,
                "peer": peer_name,
                "ours_s": t_ours,
                "peer_s": t_peer,
                "value_ours": v_ours if isinstance(v_ours, float) else None,
                "value_peer": v_peer if isinstance(v_peer, float) else None,
            }
        )
    return rows


def format_table(rows: list[dict]) -> str:
    lines = [
        "| case | ours median ms (min-max) | peer | peer median ms (min-max) | ratio ours/peer | values ours "
        "/ peer |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        t_ours, t_peer = r["ours_s"], r["peer_s"]
        mo, mp = statistics.median(t_ours), statistics.median(t_peer)
        vals = f"{r['value_ours']:.6f} / {r['value_peer']:.6f}" if r["value_ours"] is not None else "-"
        lines.append(
            f"| {r['case']} | {1e3 * mo:.2f} ({1e3 * min(t_ours):.2f}-{1e3 * max(t_ours):.2f}) | {r['peer']} "
            f"| {1e3 * mp:.2f} ({1e3 * min(t_peer):.2f}-{1e3 * max(t_peer):.2f}) | {mo / mp:.3f} | {vals} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes and few repetitions (~20 s)")
    ap.add_argument("--threads", type=int, default=2, help="torch and numba threads")
    args = ap.parse_args(argv)
    import numba

    from vocoder_train.config.runtime import setup
    from vocoder_train.kernels import sync_numba_threads

    setup()  # numba's threading layer, chosen before its pool starts (as the entry points do)
    torch.set_num_threads(args.threads)
    sync_numba_threads()
    rows = run_cases(args.quick)
    layer = numba.threading_layer()
    print(f"torch {torch.__version__}, numba {numba.__version__} ({layer}), threads {args.threads}\n")
    print(format_table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
