"""Beyond the first iteration: ours and the upstream Vocos step trained side by side, fp32, from the same
weights on the same batches of the demo corpus, and how far their losses and weights drift apart.

Ours is ``VocoderGAN.training_step`` through a Lightning ``Trainer`` with the upstream-equivalent config
(``experiment=vocos_mel_24khz``, base sizes, its default speed options); the peer is
:class:`benchmarks.upstream.UpstreamStep` (vocos' ``VocosExp.training_step`` rebuilt from vocos'
modules). Ours starts from the peer's weights; both see the same random crops of
``recipes/demo/corpus`` (resampled to 24 kHz, seed 0). The two compute the same function with a
different order of float operations (and our kernels), and a GAN amplifies such differences, so the
trajectories separate slowly: the table gives, at a few iterations, the relative difference of every
loss term, and at the end the generator's and the discriminators' weights,
``|ours - upstream| / |upstream - start|`` (the difference as a share of how far training moved them).

How far is too far? GAN training amplifies any difference, so the scale is measured, not assumed: a
third run, the upstream step itself with its starting weights perturbed by float rounding
(:data:`PERTURBATION`, relative), drifts from the unperturbed one by the problem's own sensitivity.
The band (:data:`BAND`) is a multiple of that reference: ours against upstream may drift at most that
many times as far as upstream against itself, in g_mel (the reconstruction both optimise, largest over
the iterations) and in the final weights. The adversarial terms are reported, not banded.

    python -m benchmarks.run --only drift [--iterations 200] [--batch 2] [--segment 8192]
"""

from __future__ import annotations

import random
import statistics

import torch

from benchmarks.harness import ROOT, Benchmark, Options, progress
from benchmarks.ours import build_ours, map_upstream_discriminators, ours_step, quiet_lightning
from benchmarks.upstream import SR, TERMS, UpstreamStep

CORPUS = ROOT / "recipes" / "demo" / "corpus"
PERTURBATION = 1e-7  # relative perturbation of the reference run's starting weights: float32 rounding
BAND = 3.0  # ours vs upstream may drift at most this many times as far as upstream vs its perturbed self
REPORTED = (1, 2, 5, 10, 20, 50, 100, 150, 200)  # iterations shown (those <= the run's length, and its last)


def demo_batches(n: int, batch: int, segment: int, seed: int = 0) -> list[torch.Tensor]:
    """``n`` batches of random ``segment``-sample crops of the demo corpus at 24 kHz (a fixed seed)."""
    from vocoder_train.io.audio import is_audio_file, load_audio

    files = sorted(p for p in CORPUS.rglob("*") if is_audio_file(p))
    audio = [load_audio(p, SR)[0].reshape(-1) for p in files]
    audio = [a for a in audio if a.numel() > segment]
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        crops = []
        for _ in range(batch):
            a = rng.choice(audio)
            start = rng.randrange(a.numel() - segment)
            crop = a[start : start + segment]
            crops.append(crop / crop.abs().max().clamp(min=1e-4) * 10 ** (rng.uniform(-6, -1) / 20))
        out.append(torch.stack(crops))
    return out


def _flat(state: dict[str, torch.Tensor], keys) -> torch.Tensor:
    return torch.cat([state[k].detach().float().reshape(-1).cpu() for k in keys])


def _weight_drift(ours: dict, theirs: dict, start: dict) -> float:
    """|ours - theirs| / |theirs - start| over the keys they share (floating-point tensors only)."""
    keys = sorted(k for k in theirs if k in ours and k in start and theirs[k].is_floating_point())
    o, t, s = _flat(ours, keys), _flat(theirs, keys), _flat(start, keys)
    return float((o - t).norm() / (t - s).norm().clamp(min=1e-30))


def run(opts: Options) -> dict:
    quiet_lightning()
    iterations = opts.iterations or (10 if opts.quick else 200)
    peer = UpstreamStep(seed=0)
    module = build_ours(peer)
    start_g = {k: v.clone() for k, v in peer.gen.state_dict().items()}
    start_d = {k: v.clone() for k, v in map_upstream_discriminators(peer).items()}
    reference = UpstreamStep(seed=0)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in (*reference.g_params, *reference.d_params):
            p.mul_(1 + PERTURBATION * torch.randn(p.shape, generator=g))
    batches = demo_batches(iterations, opts.batch, opts.segment)
    ours, upstream, rel, rel_ref = [], [], [], []
    for i, audio in enumerate(batches, 1):
        upstream.append(peer.step(audio))
        ours.append(ours_step(module, audio, "fp32", opts)[1])
        o, u, r = ours[-1], upstream[-1], reference.step(audio)
        rel.append({t: abs(o[t] - u[t]) / max(abs(u[t]), 1e-8) for t in TERMS if t in o and t in u})
        rel_ref.append({t: abs(r[t] - u[t]) / max(abs(u[t]), 1e-8) for t in TERMS})
        if i % 10 == 0 or i == iterations:
            worst = max(max(r.values()) for r in rel)
            progress(
                "drift",
                f"iteration {i}/{iterations}: g_mel {o['g_mel']:.4f} / {u['g_mel']:.4f}, "
                f"largest loss difference so far {worst:.2e}",
            )
    ours_g = module.generator.state_dict()
    ours_d = module.adversary.state_dict()
    return {
        "iterations": iterations,
        "rel": rel,
        "rel_reference": rel_ref,
        "ours": ours,
        "upstream": upstream,
        "weights": {
            "generator": _weight_drift(ours_g, peer.gen.state_dict(), start_g),
            "discriminators": _weight_drift(ours_d, map_upstream_discriminators(peer), start_d),
        },
        "weights_reference": {
            "generator": _weight_drift(reference.gen.state_dict(), peer.gen.state_dict(), start_g),
            "discriminators": _weight_drift(
                map_upstream_discriminators(reference), map_upstream_discriminators(peer), start_d
            ),
        },
    }


def format_drift(res: dict, opts: Options) -> str:
    n, rel = res["iterations"], res["rel"]
    shown = sorted({i for i in REPORTED if i <= n} | {n})
    lines = [
        f"Drift over {n} iterations, fp32, batch {opts.batch} x {opts.segment} crops of the demo corpus, "
        "base config: ours (experiment=vocos_mel_24khz) and the upstream Vocos step from the same weights "
        "on the same batches",
        "",
        "| iteration | g_mel ours / upstream | g_mel difference: ours / reference | all terms, ours: median "
        "| max (term) |",
        "|---|---|---|---|---|",
    ]
    ref = res["rel_reference"]
    for i in shown:
        r = rel[i - 1]
        worst = max(r, key=r.get)
        lines.append(
            f"| {i} | {res['ours'][i - 1]['g_mel']:.4f} / {res['upstream'][i - 1]['g_mel']:.4f} | "
            f"{r['g_mel']:.2e} / {ref[i - 1]['g_mel']:.2e} | {statistics.median(r.values()):.2e} | "
            f"{r[worst]:.2e} ({worst}) |"
        )
    w, wr = res["weights"], res["weights_reference"]
    worst_mel, worst_ref = max(r["g_mel"] for r in rel), max(r["g_mel"] for r in ref)
    ratios = [worst_mel / max(worst_ref, 1e-12)] + [w[k] / max(wr[k], 1e-12) for k in w]
    lines += [
        "",
        "reference: the upstream step from its starting weights perturbed by "
        f"{PERTURBATION:g} (relative), against the unperturbed upstream step.",
        "",
        f"Final weights, |x - upstream| / |upstream - start|: generator ours {w['generator']:.2e}, reference "
        f"{wr['generator']:.2e}; discriminators ours {w['discriminators']:.2e}, reference "
        f"{wr['discriminators']:.2e}.",
        f"Largest g_mel difference over all iterations: ours {worst_mel:.2e}, reference {worst_ref:.2e}. "
        f"Band: ours at most {BAND:g}x the reference in each: "
        f"{'within' if max(ratios) <= BAND else 'OUTSIDE'} the band (largest ratio {max(ratios):.2f}).",
    ]
    return "\n".join(lines)


BENCHMARK = Benchmark("drift", "Drift over many iterations", run, format_drift)
