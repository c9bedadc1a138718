"""EnCodec training step: one GAN iteration of ours (``experiment=vocos_encodec_24khz``) against vocos'
``VocosEncodecExp`` step rebuilt from vocos' modules, per precision, from the same weights and batches.

Both run the recipe's sizes (EnCodec 24 kHz frozen, backbone 384 / 1152 / 8 layers with AdaLN, ISTFT
n_fft 1280 / hop 320, MPD + MRD conditioned on the bandwidth, MRD weight 1.0); each round uses the next
bandwidth id (0, 1, 2, 3, 0, ...), the same for both. The EnCodec weights are random (seeded) in a
temporary torch home: speed does not depend on their values, and nothing is downloaded. The frozen
encoder's share is the time of the upstream front end alone (EnCodec encode + codebook sum) over the
upstream iteration, at the same precision. Crops are rounded up to whole EnCodec frames (320 samples).

    python -m benchmarks.run --only encodec [--batch 16] [--segment 24000]
"""

from __future__ import annotations

import statistics

import torch

from benchmarks.harness import Benchmark, Options, ab_schedule, loss_cells, progress, step_rows, sync
from benchmarks.ours import build_ours, ours_step, quiet_lightning
from benchmarks.upstream import SR, TERMS, UpstreamStep, make_batches
from vocoder_train.models.codec import random_encodec, torch_home_with_codec

FRAME = 320  # EnCodec 24 kHz: samples a frame
IDS = 4  # bandwidth ids: 1.5, 3, 6, 12 kbps


def run(opts: Options) -> dict:
    quiet_lightning()
    segment = -(-opts.segment // FRAME) * FRAME
    with torch_home_with_codec(random_encodec(0)):
        peers = {p: UpstreamStep(seed=0, device=opts.device, encodec=True) for p in opts.precisions}
        ours = {p: build_ours(peers[p]) for p in opts.precisions}
    rounds = opts.reps + 1  # round 0 is warm-up
    batches = make_batches(rounds, opts.batch, segment, seed=1)
    names = [f"{who} {p}" for p in opts.precisions for who in ("ours", "upstream")]
    times: dict[str, list[float]] = {k: [] for k in names}
    losses: dict[str, list[dict]] = {k: [] for k in names}
    encoder: dict[str, list[float]] = {p: [] for p in opts.precisions}
    for r, name in ab_schedule([[f"ours {p}", f"upstream {p}"] for p in opts.precisions], rounds):
        who, precision = name.split()
        bandwidth_id = r % IDS
        if who == "ours":
            dt, ls = ours_step(ours[precision], batches[r], precision, opts, condition=bandwidth_id)
        else:
            peer = peers[precision]
            sync(opts.device)
            t0 = opts.now()
            ls = peer.step(batches[r], precision, bandwidth_id=bandwidth_id)
            sync(opts.device)
            dt = opts.now() - t0
            if r > 0:
                encoder[precision].append(_encoder_seconds(peer, batches[r], precision, bandwidth_id, opts))
        if r > 0:
            times[name].append(dt)
        losses[name].append(ls)
        progress("encodec", f"round {r} {name} (bandwidth id {bandwidth_id}): {dt:.2f} s")
    return {"times": times, "losses": losses, "encoder": encoder, "segment": segment}


def _encoder_seconds(peer: UpstreamStep, audio, precision: str, bandwidth_id: int, opts: Options) -> float:
    """The upstream front end alone (EnCodec encode + codebook sum), as the step runs it (no gradient)."""
    with torch.no_grad(), torch.autocast(peer.device_type, torch.bfloat16, enabled=precision == "bf16"):
        sync(opts.device)
        t0 = opts.now()
        peer.gen.feature_extractor(audio.to(peer.device), bandwidth_id=torch.tensor([bandwidth_id]))
        sync(opts.device)
        return opts.now() - t0


def format_encodec(res: dict, opts: Options) -> str:
    times, segment = res["times"], res["segment"]
    lines = [
        f"EnCodec training step (D + G), batch {opts.batch} x {segment}, the recipe's sizes, a bandwidth id "
        f"per round; {opts.reps} timed iterations after 1 warm-up; each of ours against upstream at the same "
        "precision",
        "",
        "| variant | s / iteration, median (min-max) | ratio to upstream, same precision | audio s / s | "
        "frozen encoder's share of the upstream iteration |",
        "|---|---|---|---|---|",
    ]

    def share(name: str) -> str:  # the frozen encoder's share of the upstream iteration
        if not name.startswith("upstream"):
            return "-"
        precision = name.split()[1]
        return f"{100 * statistics.median(res['encoder'][precision]) / statistics.median(times[name]):.1f}%"

    lines += step_rows(times, opts.batch * segment / SR, share)
    pairs = [p.split()[1] for p in times if p.startswith("ours")]
    lines += [
        "",
        "Losses of the first iteration (bandwidth id 0) from the same weights and batch, ours vs upstream "
        "(rel. diff = |ours - upstream| / |upstream|):",
        "",
        "| term | " + " | ".join(f"ours {p} | upstream {p} | rel. diff {p}" for p in pairs) + " |",
        "|" + "---|" * (1 + 3 * len(pairs)),
    ]
    for term in TERMS:
        lines.append(f"| {term} | " + " | ".join(loss_cells(res["losses"], pairs, 0, term)) + " |")
    return "\n".join(lines)


BENCHMARK = Benchmark("encodec", "EnCodec training step", run, format_encodec)
