"""Performance harness: ours side by side with the upstream peers, in one process.

    python -m benchmarks.run [--quick] [--batch 16] [--segment 16384] [--precision fp32,bf16]
                             [--only step,options,loader,infer,stream,kernels] [--threads 2] [--reps 3]
                             [--json out.json]

Sections (each a Markdown table; every timing is ours and the peer alternated A/B, B/A in the
same process, so machine-load drift hits both alike; medians with min-max):

* ``step``: one GAN iteration (D step + G step), base config (vocos base generator, MPD + MRD,
  hinge + FM + 45 x mel, AdamW). Ours is ``VocoderGAN.training_step`` driven by a Lightning
  ``Trainer`` (precision ``32-true`` / ``bf16-mixed``); the peer is the upstream Vocos step
  (``vocos/experiment.py``: D step, then G step with the discriminators frozen as Lightning 1.8
  toggles them) rebuilt from vocos' own modules, at the same precision (fp32, or bf16 autocast with
  the same fp32 islands), each precision as its own block. All start from the same weights and see
  the same batches; the losses of the first 3 iterations are compared. Peak RSS is measured in a
  fresh subprocess per variant (2 iterations each).
* ``options``: each ``model.perf`` speed option alone against the plain step, at its precision.
* ``loader``: items/s of one worker: our ``AudioDataset`` (partial reads, cached resampler) vs
  ``torchaudio.load`` of the whole file + ``torchaudio.functional.resample`` + random crop, on
  a generated 44.1 kHz WAV corpus of 3-10 s files, 24 kHz crops of ``--segment`` samples.
* ``infer``: real-time factor on 10 s at 24 kHz, base model, random weights: ``vocos.Vocos.decode``
  fp32 eager vs our TorchScript and ONNX Runtime exports and bf16 eager (ISTFT head in fp32).
* ``stream``: the streaming table of :mod:`benchmarks.bench_stream` (per-push compute and latency of
  the causal streamers, PyTorch and ONNX Runtime, and of the non-causal one with ``--lookahead``).
* ``kernels``: the loss-kernel table of :mod:`benchmarks.bench_kernels`.

``--quick``: batch 2 x 8192, 2 timed repetitions, small cases, three speed-option variants (a few minutes).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
SR, N_FFT, HOP, N_MELS = 24000, 1024, 256, 100
PRECISIONS = {"fp32": "32-true", "bf16": "bf16-mixed"}


# -- helpers ---------------------------------------------------------------------------------


def machine_line(threads: int) -> str:
    model = platform.processor() or "?"
    flags: set[str] = set()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
            elif line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    isa = ", ".join(f for f in ("avx512f", "avx512_bf16", "amx_bf16") if f in flags) or "no AVX-512"
    return (
        f"CPU: {model} ({os.cpu_count()} logical cores; {isa}); torch {torch.__version__} "
        f"(capability {torch.backends.cpu.get_cpu_capability()}); threads {threads}; Python "
        f"{platform.python_version()}"
    )


def stats(ts: list[float]) -> tuple[float, float, float]:
    return statistics.median(ts), min(ts), max(ts)


def fmt_s(ts: list[float], scale: float = 1.0, digits: int = 2) -> str:
    m, lo, hi = stats(ts)
    return f"{m * scale:.{digits}f} ({lo * scale:.{digits}f}-{hi * scale:.{digits}f})"


def quiet_lightning() -> None:
    for name in ("pytorch_lightning", "lightning", "lightning.pytorch", "lightning_fabric"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", ".*does not have many workers.*")
    warnings.filterwarnings("ignore", ".*LightningModule.configure_optimizers.*")
    warnings.filterwarnings("ignore", ".*weight_norm.*")
    warnings.filterwarnings("ignore", ".*TorchScript.*")


# -- training step: the upstream peer ----------------------------------------------------------


def build_upstream_generator():
    from vocos.feature_extractors import MelSpectrogramFeatures
    from vocos.heads import ISTFTHead
    from vocos.models import VocosBackbone
    from vocos.pretrained import Vocos

    return Vocos(
        MelSpectrogramFeatures(SR, N_FFT, HOP, N_MELS, padding="center"),
        VocosBackbone(N_MELS, 512, 1536, 8),
        ISTFTHead(512, N_FFT, HOP, padding="same"),
    )


def _fp32(x):
    if torch.is_tensor(x):
        return x.float()
    if isinstance(x, (list, tuple)):
        return type(x)(_fp32(v) for v in x)
    return x


def fp32_island(fn):
    """``fn`` with autocast off and its tensor arguments (also inside lists) in fp32: the STFT regions
    and the losses of a bf16 step, as ours runs them."""

    def run(*args, **kwargs):
        with torch.autocast(DEVICE["name"], enabled=False):
            return fn(*_fp32(args), **{k: _fp32(v) for k, v in kwargs.items()})

    return run


class UpstreamStep:
    """The Vocos training step of ``vocos/experiment.py`` (``VocosExp.training_step``), fp32.

    Lightning 1.8's automatic optimization with two optimizers calls the step twice per batch:
    optimizer 0 (discriminators: generator output under no_grad, D on real and generated audio
    separately) and optimizer 1 (generator: a second generator forward, D on both with the D
    parameters' ``requires_grad`` toggled off). mrd_loss_coeff 0.1, mel coefficient 45.
    """

    def __init__(self, seed: int = 0, device: str = "cpu"):
        from vocos.discriminators import MultiPeriodDiscriminator, MultiResolutionDiscriminator
        from vocos.loss import (
            DiscriminatorLoss,
            FeatureMatchingLoss,
            GeneratorLoss,
            MelSpecReconstructionLoss,
        )

        torch.manual_seed(seed)
        self.gen = build_upstream_generator()
        self.mpd = MultiPeriodDiscriminator()
        self.mrd = MultiResolutionDiscriminator()
        self.disc_loss, self.gen_loss = DiscriminatorLoss(), GeneratorLoss()
        self.fm_loss, self.mel_loss = FeatureMatchingLoss(), MelSpecReconstructionLoss(sample_rate=SR)
        self.mrd_coeff, self.mel_coeff = 0.1, 45.0
        self.device = device
        for m in (self.gen, self.mpd, self.mrd, self.mel_loss):
            m.to(device)
        self.g_params = [
            *self.gen.feature_extractor.parameters(),
            *self.gen.backbone.parameters(),
            *self.gen.head.parameters(),
        ]
        self.d_params = [*self.mpd.parameters(), *self.mrd.parameters()]
        self.opt_d = torch.optim.AdamW(self.d_params, lr=5e-4, betas=(0.8, 0.9))
        self.opt_g = torch.optim.AdamW(self.g_params, lr=5e-4, betas=(0.8, 0.9))
        for m in (self.gen, self.mpd, self.mrd):
            m.train()

        for d in self.mrd.discriminators:  # its STFT and the losses in fp32 under autocast, as ours
            d.spectrogram = fp32_island(d.spectrogram)
        for loss in (self.mel_loss, self.disc_loss, self.gen_loss, self.fm_loss):
            loss.forward = fp32_island(loss.forward)

    def generator(self, audio):
        # Trimmed to the input length: with the base config (mel padding "center", ISTFT "same")
        # the head returns frames * hop = T + hop samples, and the feature-matching loss needs
        # equal lengths (our generator trims the same way, ``match_length``). Mel features and
        # the ISTFT head in fp32 under autocast, the backbone in the autocast dtype (as ours).
        hidden = self.gen.backbone(fp32_island(self.gen.feature_extractor)(audio))
        return fp32_island(self.gen.head)(hidden)[..., : audio.shape[-1]]

    @staticmethod
    def _toggle(trainable, frozen):  # Lightning 1.8 toggle_optimizer
        for p in frozen:
            p.requires_grad_(False)
        for p in trainable:
            p.requires_grad_(True)

    def step(self, audio: torch.Tensor, precision: str = "fp32") -> dict[str, float]:
        """One iteration in fp32, or under bf16 autocast ("bf16") with the STFTs in fp32."""
        with torch.autocast(
            torch.device(self.device).type, dtype=torch.bfloat16, enabled=precision == "bf16"
        ):
            return self._step(audio.to(self.device))

    def _step(self, audio: torch.Tensor) -> dict[str, float]:
        out = {}
        # optimizer 0: discriminators
        self._toggle(self.d_params, self.g_params)
        with torch.no_grad():
            audio_hat = self.generator(audio)
        real_mp, gen_mp, _, _ = self.mpd(y=audio, y_hat=audio_hat)
        real_mrd, gen_mrd, _, _ = self.mrd(y=audio, y_hat=audio_hat)
        loss_mp, loss_mp_real, _ = self.disc_loss(disc_real_outputs=real_mp, disc_generated_outputs=gen_mp)
        loss_mrd, loss_mrd_real, _ = self.disc_loss(
            disc_real_outputs=real_mrd, disc_generated_outputs=gen_mrd
        )
        loss_mp, loss_mrd = loss_mp / len(loss_mp_real), loss_mrd / len(loss_mrd_real)
        loss_d = loss_mp + self.mrd_coeff * loss_mrd
        self.opt_d.zero_grad()
        loss_d.backward()
        self.opt_d.step()
        out.update(d_mpd=loss_mp.item(), d_mrd=loss_mrd.item(), d_total=loss_d.item())
        del real_mp, gen_mp, real_mrd, gen_mrd, loss_d
        # optimizer 1: generator
        self._toggle(self.g_params, self.d_params)
        audio_hat = self.generator(audio)
        _, gen_mp, fmap_rs_mp, fmap_gs_mp = self.mpd(y=audio, y_hat=audio_hat)
        _, gen_mrd, fmap_rs_mrd, fmap_gs_mrd = self.mrd(y=audio, y_hat=audio_hat)
        loss_gen_mp, list_mp = self.gen_loss(disc_outputs=gen_mp)
        loss_gen_mrd, list_mrd = self.gen_loss(disc_outputs=gen_mrd)
        loss_gen_mp, loss_gen_mrd = loss_gen_mp / len(list_mp), loss_gen_mrd / len(list_mrd)
        loss_fm_mp = self.fm_loss(fmap_r=fmap_rs_mp, fmap_g=fmap_gs_mp) / len(fmap_rs_mp)
        loss_fm_mrd = self.fm_loss(fmap_r=fmap_rs_mrd, fmap_g=fmap_gs_mrd) / len(fmap_rs_mrd)
        mel = self.mel_loss(audio_hat, audio)
        loss_g = (
            loss_gen_mp
            + self.mrd_coeff * loss_gen_mrd
            + loss_fm_mp
            + self.mrd_coeff * loss_fm_mrd
            + self.mel_coeff * mel
        )
        self.opt_g.zero_grad()
        loss_g.backward()
        self.opt_g.step()
        self._toggle(self.g_params + self.d_params, [])
        out.update(
            g_mel=float(mel),
            g_adv_mpd=float(loss_gen_mp),
            g_fm_mpd=float(loss_fm_mp),
            g_adv_mrd=float(loss_gen_mrd),
            g_fm_mrd=float(loss_fm_mrd),
            g_total=float(loss_g),
        )
        return out


# -- training step: ours -------------------------------------------------------------------------


def compose_ours(overrides: list[str]):
    from hydra import compose, initialize_config_dir

    from vocoder_train.config import CONFIG_DIR

    base = [
        "experiment=vocos_mel_24khz",
        "model.optim.total_iterations=1000000",
        "validation.metrics=[]",
        "logger={}",
    ]
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return compose("train", overrides=base + list(overrides))


def map_upstream_discriminators(peer: UpstreamStep) -> dict[str, torch.Tensor]:
    """Upstream (old-style ``weight_norm``: weight_g / weight_v) -> our ``adversary`` state-dict keys
    (parametrizations: original0 / original1). Same architectures, same parameter order."""
    out = {}
    for ours_name, disc in (("mpd", peer.mpd), ("mrd", peer.mrd)):
        for k, v in disc.state_dict().items():
            if k.endswith("spec_fn.window"):
                continue  # our MRD's window is a non-persistent buffer
            k = k.replace(".weight_g", ".parametrizations.weight.original0").replace(
                ".weight_v", ".parametrizations.weight.original1"
            )
            out[f"discriminators.{ours_name}.{k}"] = v
    return out


def build_ours(peer: UpstreamStep, overrides: list[str] | None = None):
    from vocoder_train.io.buffers import drop_derived
    from vocoder_train.training.run import build_module

    module = build_module(compose_ours(list(overrides or [])))
    module.generator.load_state_dict(
        drop_derived(peer.gen.state_dict(), module.generator)
    )  # vocos saves its windows/filterbanks
    missing, unexpected = module.adversary.load_state_dict(map_upstream_discriminators(peer), strict=True)
    assert not missing and not unexpected
    # optimizers persist across the one-iteration fits below, like the peer's
    cached: dict = {}
    original = module.configure_optimizers

    def configure_optimizers():
        if "v" not in cached:
            cached["v"] = original()
        return cached["v"]

    module.configure_optimizers = configure_optimizers
    return module


DEVICE = {"name": "cpu"}  # where the step and options sections train (--device)
CLOCK = {"fn": time.perf_counter}  # --clock


def clock() -> float:
    """Seconds on the clock ``--clock`` chose: wall (default) or this thread's CPU time."""
    return CLOCK["fn"]()


def sync(device) -> None:
    """Waits for queued CUDA work, so wall-clock times cover it."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


class _StepTimer:
    def __init__(self):
        import pytorch_lightning as pl

        class Timer(pl.Callback):
            def on_train_batch_start(cb, trainer, pl_module, batch, batch_idx):
                cb.t0 = clock()

            def on_train_batch_end(cb, trainer, pl_module, outputs, batch, batch_idx):
                sync(pl_module.device)
                cb.dt = clock() - cb.t0
                cb.losses = {
                    k: float(v) for k, v in outputs.items() if v.numel() == 1 and not k.startswith("grad")
                }

        self.cb = Timer()


def ours_step(module, audio: torch.Tensor, precision: str) -> tuple[float, dict[str, float]]:
    """One GAN iteration of ``VocoderGAN.training_step`` through a Lightning Trainer."""
    import pytorch_lightning as pl

    timer = _StepTimer().cb
    trainer = pl.Trainer(
        accelerator="gpu" if DEVICE["name"] == "cuda" else "cpu",
        devices=1,
        precision=PRECISIONS[precision],
        max_steps=2,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_val_batches=0,
        callbacks=[timer],
    )
    loader = torch.utils.data.DataLoader([{"audio": audio}], batch_size=None)
    trainer.fit(module, train_dataloaders=loader)
    return timer.dt, timer.losses


def make_batches(n: int, batch: int, segment: int, seed: int = 0) -> list[torch.Tensor]:
    """Speech-like random batches: harmonic tones with vibrato plus noise, random levels."""
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(segment) / SR
    out = []
    for _ in range(n):
        f0 = 80 + 220 * torch.rand(batch, 1, generator=g)
        phase = 2 * torch.pi * f0 * (t + 0.003 * torch.sin(2 * torch.pi * 5 * t))
        x = sum(0.3 / k * torch.sin(k * phase) for k in range(1, 8))
        x = x + 0.02 * torch.randn(batch, segment, generator=g)
        out.append(x * (0.3 + 0.6 * torch.rand(batch, 1, generator=g)))
    return out


TERMS = ("d_mpd", "d_mrd", "d_total", "g_mel", "g_adv_mpd", "g_fm_mpd", "g_adv_mrd", "g_fm_mrd", "g_total")


def ab_schedule(groups: list[list[str]], rounds: int) -> list[tuple[int, str]]:
    """(round, variant) in the order the step and options sections run them: one group (a precision)
    after the other, as a training run uses one; each group's variants once per round (round 0 is its
    warm-up), in the given order in even rounds and reversed in odd ones, so none always runs first."""
    return [
        (r, name) for group in groups for r in range(rounds) for name in group[:: 1 if r % 2 == 0 else -1]
    ]


def bench_step(args, precisions: list[str]) -> dict:
    quiet_lightning()
    peer = UpstreamStep(seed=0)
    ours = {p: build_ours(peer) for p in precisions}
    device = DEVICE["name"]
    rounds = args.reps + 1  # round 0 is warm-up (numba JIT, oneDNN primitives, optimizer state)
    batches = make_batches(rounds, args.batch, args.segment, seed=1)
    names = [f"{who} {p}" for p in precisions for who in ("ours", "upstream")]
    times: dict[str, list[float]] = {k: [] for k in names}
    losses: dict[str, list[dict]] = {k: [] for k in names}
    peers = {
        p: UpstreamStep(seed=0, device=device) for p in precisions
    }  # one optimizer state per precision, as ours
    for r, name in ab_schedule([[f"ours {p}", f"upstream {p}"] for p in precisions], rounds):
        who, precision = name.split()
        if who == "ours":
            dt, ls = ours_step(ours[precision], batches[r], precision)
        else:
            sync(device)
            t0 = clock()
            ls = peers[precision].step(batches[r], precision)
            sync(device)
            dt = clock() - t0
        if r > 0:
            times[name].append(dt)
        losses[name].append(ls)
        print(f"  [step] round {r} {name}: {dt:.2f} s", file=sys.stderr, flush=True)
    del ours, peer, peers
    rss = {}
    if not args.no_rss and device == "cpu":  # host memory; on a GPU the peak is elsewhere
        for name in times:
            rss[name] = rss_probe(name, args)
    return {"times": times, "losses": losses, "rss_mb": rss}


def bench_options(args) -> dict:
    """Each ``model.perf`` option alone vs the plain step (all off) at its precision, A/B alternated."""
    from vocoder_train.training.perf import PLAIN

    quiet_lightning()
    peer = UpstreamStep(seed=0)
    variants = {  # name: (model.perf options over PLAIN, or None for the defaults; precision)
        "plain": ({}, "fp32"),
        "winograd": ({"winograd": True}, "fp32"),
        "MPD folded layout": ({"mpd_layout": "folded"}, "fp32"),
        "AdamW foreach": ({"optimizer": "foreach"}, "fp32"),
        "AdamW fused": ({"optimizer": "fused"}, "fp32"),
        "weight norm once per phase": ({"cache_weight_norm": True}, "fp32"),
        "compile backbone + head": ({"compile": ["backbone", "head"]}, "fp32"),
        "compile mpd + mrd": ({"compile": ["mpd", "mrd"]}, "fp32"),
        "defaults (configs/model/perf/default.yaml)": (None, "fp32"),
        "bf16 plain": ({}, "bf16"),
        "bf16 MPD folded layout": ({"mpd_layout": "folded"}, "bf16"),
        "bf16 winograd + winograd_bf16": ({"winograd": True, "winograd_bf16": True}, "bf16"),
        "bf16 defaults": (None, "bf16"),
    }
    if args.quick:  # a smoke run: no compiling (minutes), one option
        variants = {
            k: variants[k] for k in ("plain", "winograd", "defaults (configs/model/perf/default.yaml)")
        }
    wanted = [p.strip() for p in args.precision.split(",")]
    variants = {k: v for k, v in variants.items() if v[1] in wanted}

    def overrides(option: dict | None) -> list[str] | None:
        return (
            None
            if option is None
            else [f"model.perf.{k}={json.dumps(v)}" for k, v in {**PLAIN, **option}.items()]
        )

    modules = {k: build_ours(peer, overrides(v[0])) for k, v in variants.items()}
    del peer
    rounds = args.reps + 1
    batches = make_batches(rounds, args.batch, args.segment, seed=1)
    times: dict[str, list[float]] = {k: [] for k in variants}
    first: dict[str, float] = {}
    losses: dict[str, dict] = {}
    precisions = list(dict.fromkeys(v[1] for v in variants.values()))
    for r, name in ab_schedule([[k for k, v in variants.items() if v[1] == p] for p in precisions], rounds):
        module = modules[name]
        dt, ls = ours_step(module, batches[r], variants[name][1])
        if r == 0:
            first[name], losses[name] = dt, ls
        else:
            times[name].append(dt)
        print(f"  [options] round {r} {name}: {dt:.2f} s", file=sys.stderr, flush=True)
    return {
        "times": times,
        "first_s": first,
        "losses": losses,
        "precision": {k: v[1] for k, v in variants.items()},
    }


def format_options(res: dict, args) -> str:
    times = res["times"]
    lines = [
        f"Speed options (model.perf), each alone vs the plain step (every option off) at the same precision, "
        f"batch {args.batch} x {args.segment}, {args.reps} timed iterations after 1 warm-up (the warm-up "
        "includes "
        "compiling). Loss diffs: iteration 1, relative to the plain step; the D terms come before any "
        "update, "
        "the G terms after one D update (AdamW's first step, about lr x sign(gradient), turns rounding-level "
        "gradient differences of near-zero entries into weight differences)",
        "",
        "| option | precision | s / iteration, median (min-max) | ratio to plain | first iteration s | "
        "max rel. diff, D terms | max rel. diff, G terms |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, ts in times.items():
        precision = res["precision"][name]
        plain = "plain" if precision == "fp32" else "bf16 plain"
        ref, base = statistics.median(times[plain]), res["losses"][plain]

        diff = {
            prefix: max(
                abs(res["losses"][name][k] - v) / max(abs(v), 1e-12)
                for k, v in base.items()
                if k in TERMS and k.startswith(prefix)
            )
            for prefix in ("d_", "g_")
        }
        lines.append(
            f"| {name} | {precision} | {fmt_s(ts)} | {statistics.median(ts) / ref:.3f} | "
            f"{res['first_s'][name]:.1f} | {diff['d_']:.1e} | {diff['g_']:.1e} |"
        )
    return "\n".join(lines)


def rss_probe(name: str, args) -> float | None:
    cmd = [
        sys.executable,
        "-m",
        "benchmarks.run",
        "--rss-probe",
        name,
        "--batch",
        str(args.batch),
        "--segment",
        str(args.segment),
        "--threads",
        str(args.threads),
    ]
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    try:
        return float(json.loads(res.stdout.strip().splitlines()[-1])["peak_rss_mb"])
    except (IndexError, ValueError, KeyError):
        print(f"  [rss] {name} failed:\n{res.stderr[-2000:]}", file=sys.stderr)
        return None


def run_rss_probe(args) -> None:
    """In a fresh process: build one variant, run 2 iterations, print the peak RSS."""
    quiet_lightning()
    peer = UpstreamStep(seed=0)
    batches = make_batches(2, args.batch, args.segment, seed=1)
    if args.rss_probe.startswith("ours"):
        precision = args.rss_probe.split()[1]
        module = build_ours(peer)
        del peer
        for b in batches:
            ours_step(module, b, precision)
    else:
        for b in batches:
            peer.step(b, args.rss_probe.split()[1])
    print(json.dumps({"peak_rss_mb": peak_rss_mb()}))


def peak_rss_mb() -> float:
    """This process's peak RSS. VmHWM, not ``ru_maxrss``: Linux carries ``ru_maxrss`` across
    fork + exec, so a probe started by a big parent would report the parent's peak."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def format_step(res: dict, args) -> str:
    times, rss = res["times"], res["rss_mb"]
    lines = [
        f"Training step (D + G), batch {args.batch} x {args.segment}, base config; "
        f"{args.reps} timed iterations after 1 warm-up; each of ours against upstream at the same precision",
        "",
        "| variant | s / iteration, median (min-max) | ratio to upstream, same precision | audio s / s | "
        "peak RSS MB |",
        "|---|---|---|---|---|",
    ]
    for name, ts in times.items():
        m, ref = statistics.median(ts), statistics.median(times[f"upstream {name.split()[1]}"])
        r = rss.get(name)
        lines.append(
            f"| {name} | {fmt_s(ts)} | {m / ref:.3f} | {args.batch * args.segment / SR / m:.2f} "
            f"| {f'{r:.0f}' if r else '-'} |"
        )
    pairs = [p.split()[1] for p in times if p.startswith("ours")]
    lines += [
        "",
        "Losses of the first iterations from the same weights and batches, ours vs upstream at the same "
        "precision (rel. diff = |ours - upstream| / |upstream|):",
        "",
    ]
    head = (
        "| iteration | term | " + " | ".join(f"ours {p} | upstream {p} | rel. diff {p}" for p in pairs) + " |"
    )
    lines += [head, "|" + "---|" * (2 + 3 * len(pairs))]
    for it in range(min(3, len(res["losses"][f"upstream {pairs[0]}"]))):
        for term in TERMS:
            cells = []
            for p in pairs:
                v, up = res["losses"][f"ours {p}"][it].get(term), res["losses"][f"upstream {p}"][it].get(term)
                diff = f"{abs(v - up) / max(abs(up), 1e-12):.2e}" if v is not None and up is not None else "-"
                cells += [f"{v:.6f}" if v is not None else "-", f"{up:.6f}" if up is not None else "-", diff]
            lines.append(f"| {it + 1} | {term} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


# -- data loader -----------------------------------------------------------------------------------


def make_corpus(folder: Path, n: int, seed: int = 0) -> list[dict]:
    from vocoder_train.io.audio import probe, save_audio

    rng = random.Random(seed)
    sr = 44100
    items = []
    for i in range(n):
        seconds = rng.uniform(3.0, 10.0)
        t = torch.arange(int(seconds * sr)) / sr
        f0 = rng.uniform(90, 300)
        x = sum(0.25 / k * torch.sin(2 * torch.pi * k * f0 * t) for k in range(1, 6))
        x = x + 0.01 * torch.randn(t.shape, generator=torch.Generator().manual_seed(i))
        path = folder / f"f{i:03d}.wav"
        save_audio(path, x[None].float(), sr)
        items.append(probe(path).to_dict())
    return items


def bench_loader(args) -> dict:
    import torchaudio
    import torchaudio.functional as AF

    from vocoder_train.data.dataset import AudioDataset

    n_files = 12 if args.quick else 40
    n_items = 24 if args.quick else 80
    reps = 2 if args.quick else 5
    with tempfile.TemporaryDirectory() as tmp:
        items = make_corpus(Path(tmp), n_files)
        ours = AudioDataset(items, SR, args.segment, train=True)
        rng = random.Random(0)

        def plain(i: int) -> torch.Tensor:
            wave, sr = torchaudio.load(items[i]["path"])
            wave = AF.resample(wave.mean(0), sr, SR)
            start = rng.randrange(max(1, wave.numel() - args.segment + 1))
            return wave[start : start + args.segment]

        def run_ours() -> None:
            for i in range(n_items):
                ours[(i % n_files, 1000 + i)]

        def run_plain() -> None:
            for i in range(n_items):
                plain(i % n_files)

        run_ours(), run_plain()  # warm-up: resampler kernels, decoder libraries, page cache
        t = {"ours AudioDataset": [], "torchaudio.load + resample + crop": []}
        for _ in range(reps):
            for name, fn in (
                ("ours AudioDataset", run_ours),
                ("torchaudio.load + resample + crop", run_plain),
            ):
                t0 = clock()
                fn()
                t[name].append(n_items / (clock() - t0))
    return {"items_per_s": t, "n_files": n_files, "n_items": n_items}


def format_loader(res: dict, args) -> str:
    title = (
        f"Data loader, one worker (num_workers=0): {res['n_files']} generated 44.1 kHz WAV files of 3-10 s, "
        f"{SR // 1000} kHz crops of {args.segment} samples, {res['n_items']} items per measurement"
    )
    return ratio_table(
        title,
        ("loader", "items/s"),
        res["items_per_s"],
        "torchaudio.load + resample + crop",
        "ratio to plain",
        digits=1,
    )


def ratio_table(
    title: str,
    columns: tuple[str, str],
    values: dict[str, list[float]],
    ref_name: str,
    ratio_label: str,
    digits: int = 2,
    extra: dict[str, str] | None = None,
    extra_label: str = "",
) -> str:
    """A markdown table: one row per entry of ``values`` with its median (min-max) and its ratio to
    ``ref_name``'s median, plus an optional ``extra`` column."""
    ref = statistics.median(values[ref_name])
    cols = [columns[0], f"{columns[1]}, median (min-max)", ratio_label] + ([extra_label] if extra else [])
    lines = [title, "", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for name, v in values.items():
        cells = [name, fmt_s(v, digits=digits), f"{statistics.median(v) / ref:.2f}"] + (
            [extra[name]] if extra else []
        )
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


# -- inference -----------------------------------------------------------------------------------


def bench_infer(args) -> dict:
    from vocos.pretrained import Vocos

    from vocoder_train.io.checkpoint import load_torchscript
    from vocoder_train.models.export import write_onnx, write_torchscript
    from vocoder_train.models.generator import VocosGenerator
    from vocoder_train.models.store import onnx_session

    torch.manual_seed(0)
    seconds = 2.0 if args.quick else 10.0
    reps = 3 if args.quick else 7
    peer = build_upstream_generator().eval()
    assert isinstance(peer, Vocos)
    ours = VocosGenerator(peer.feature_extractor, peer.backbone, peer.head).eval()  # shares the weights
    audio = make_batches(1, 1, int(seconds * SR), seed=3)[0]
    with torch.inference_mode():
        mel = peer.feature_extractor(audio)
    cfg = {
        "feature_extractor": {
            "class_path": "vocos.feature_extractors.MelSpectrogramFeatures",
            "init_args": {"sample_rate": SR, "n_fft": N_FFT, "hop_length": HOP, "n_mels": N_MELS},
        },
        "backbone": {"class_path": "vocos.models.VocosBackbone", "init_args": {"input_channels": N_MELS}},
        "head": {"class_path": "vocos.heads.ISTFTHead", "init_args": {"n_fft": N_FFT, "hop_length": HOP}},
        "sample_rate": SR,
    }
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write_torchscript(ours, cfg, folder, [mel], 17)
        write_onnx(ours, cfg, folder, [mel], 17)
        ts_files = sorted(folder.glob("*.pt")) + sorted(folder.glob("*.ts"))
        ts = load_torchscript(ts_files[0])
        sess = onnx_session(
            next(folder.glob("*.onnx")), threads=args.threads
        )  # no spin-waits (see onnx_session)
    in_name = sess.get_inputs()[0].name
    mel_np = mel.numpy()

    def eager_fp32():
        return peer.decode(mel)

    def torchscript():
        with torch.inference_mode():
            return ts(mel)

    def onnx():
        return torch.from_numpy(sess.run(None, {in_name: mel_np})[0])

    from vocoder_train.hardware import bf16_matmul_is_fast
    from vocoder_train.models.inference.fused import FusedVocos

    fused32 = FusedVocos(ours).eval()
    fused16 = FusedVocos(ours, torch.bfloat16).eval()

    def fused_fp32():
        with torch.inference_mode():
            return fused32(mel)

    def fused_bf16():
        with torch.inference_mode():
            return fused16(mel)

    from vocoder_train.models.store import TorchVocoder

    auto = TorchVocoder(ours, Path("benchmark"), "vocos", cfg, SR, engine="auto")

    def default_engine():
        return auto.decode(mel)

    fns = {
        "vocos.Vocos.decode fp32 eager": eager_fp32,
        "ours TorchScript fp32": torchscript,
        "ours ONNX Runtime fp32": onnx,
        "ours fused fp32": fused_fp32,
        "ours fused, bf16 pointwise GEMMs"
        + ("" if bf16_matmul_is_fast() else " (no native bf16 here)"): fused_bf16,
        f"ours engine=auto -> {auto.engine} (vocoder-synthesize default)": default_engine,
    }
    ref = eager_fp32()
    outs = {k: f().float() for k, f in fns.items()}
    diffs = {
        k: float((o[..., : ref.shape[-1]] - ref[..., : o.shape[-1]]).abs().max()) for k, o in outs.items()
    }
    t: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(reps):
        for k, f in fns.items():
            t0 = clock()
            f()
            t[k].append(seconds / (clock() - t0))  # x real time
    return {"x_real_time": t, "max_abs_diff": diffs, "seconds": seconds}


def format_infer(res: dict, args) -> str:
    title = (
        f"Inference, mel -> waveform, {res['seconds']:g} s at {SR // 1000} kHz, batch 1, "
        "base model (random weights)"
    )
    diffs = {k: f"{v:.2e}" for k, v in res["max_abs_diff"].items()}
    return ratio_table(
        title,
        ("runtime", "x real time"),
        res["x_real_time"],
        "vocos.Vocos.decode fp32 eager",
        "speed ratio to vocos fp32",
        digits=1,
        extra=diffs,
        extra_label="max abs diff vs vocos fp32",
    )


# -- main ---------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    from vocoder_train.config.runtime import setup

    setup()
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--quick",
        action="store_true",
        help="batch 2 x 8192, 2 repetitions, small cases: a smoke run of every section (a few minutes)",
    )
    ap.add_argument("--batch", type=int, default=None, help="training batch (default 16; --quick: 2)")
    ap.add_argument(
        "--segment", type=int, default=None, help="training crop in samples (default 16384; --quick: 8192)"
    )
    ap.add_argument(
        "--precision", default="fp32,bf16", help="our step's precision(s): fp32, bf16 or fp32,bf16"
    )
    ap.add_argument("--only", default="step,options,loader,infer,stream,kernels", help="sections to run")
    ap.add_argument(
        "--lookahead", type=int, default=4, help="stream section: the non-causal row's look-ahead in frames"
    )
    ap.add_argument("--threads", type=int, default=2, help="torch / numba / onnxruntime threads")
    ap.add_argument(
        "--clock",
        choices=("wall", "thread"),
        default="wall",
        help="wall: wall-clock seconds; thread: this thread's CPU seconds with --threads 1, for a machine "
        "that other jobs share (a ratio of CPU times, not of 2-thread wall times)",
    )
    ap.add_argument(
        "--device",
        choices=("auto", "cpu", "cuda"),
        default="auto",
        help="where the step and options sections train (auto: cuda when a GPU is visible)",
    )
    ap.add_argument(
        "--reps", type=int, default=None, help="timed training iterations (default 3; --quick: 2)"
    )
    ap.add_argument("--no-rss", action="store_true", help="skip the peak-RSS subprocesses")
    ap.add_argument("--json", default=None, help="also write the raw results here")
    ap.add_argument("--rss-probe", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    args.batch = args.batch or (2 if args.quick else 16)
    args.segment = args.segment or (8192 if args.quick else 16384)
    args.reps = args.reps or (2 if args.quick else 3)
    if args.clock == "thread":
        if args.threads != 1:
            ap.error("--clock thread needs --threads 1 (CPU time of other threads is not counted)")
        CLOCK["fn"] = time.thread_time
    torch.set_num_threads(args.threads)
    DEVICE["name"] = (
        ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    )
    if DEVICE["name"] == "cuda" and not torch.cuda.is_available():
        ap.error("--device cuda: no CUDA device is visible")
    with contextlib.suppress(ImportError):
        import numba

        numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))
    if args.rss_probe:
        run_rss_probe(args)
        return 0
    sections = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(sections) - {"step", "options", "loader", "infer", "stream", "kernels"}
    if unknown:
        ap.error(f"--only: unknown section(s) {sorted(unknown)}")
    precisions = [p.strip() for p in args.precision.split(",") if p.strip()]
    if set(precisions) - set(PRECISIONS):
        ap.error(f"--precision: choose from {sorted(PRECISIONS)}")
    results: dict = {"machine": machine_line(args.threads), "args": vars(args)}
    if args.clock == "thread":
        results["machine"] += "; times are thread CPU seconds"
    if DEVICE["name"] == "cuda":
        results["machine"] += f"; step and options on {torch.cuda.get_device_name()}"
    print(results["machine"])
    print(f"command: python -m benchmarks.run {' '.join(argv if argv is not None else sys.argv[1:])}\n")
    t_start = time.perf_counter()
    if "step" in sections:
        results["step"] = bench_step(args, precisions)
        print("## Training step\n\n" + format_step(results["step"], args) + "\n", flush=True)
    if "options" in sections:
        results["options"] = bench_options(args)
        print("## Speed options\n\n" + format_options(results["options"], args) + "\n", flush=True)
    if "loader" in sections:
        results["loader"] = bench_loader(args)
        print("## Data loader\n\n" + format_loader(results["loader"], args) + "\n", flush=True)
    if "infer" in sections:
        results["infer"] = bench_infer(args)
        print("## Inference\n\n" + format_infer(results["infer"], args) + "\n", flush=True)
    if "stream" in sections:
        from benchmarks import bench_stream

        args.small = args.quick  # --quick: the demo-size generators
        results["stream"] = bench_stream.bench_stream(args)
        table = (
            bench_stream.format_stream(results["stream"], args).split("\n", 1)[1].lstrip("\n")
        )  # machine line above
        print("## Streaming\n\n" + table + "\n", flush=True)
    if "kernels" in sections:
        from benchmarks import bench_kernels

        results["kernels"] = bench_kernels.run_cases(args.quick)
        print(
            "## Loss kernels (ours vs peer, forward + backward)\n\n"
            + bench_kernels.format_table(results["kernels"])
            + "\n"
        )
    print(f"total {time.perf_counter() - t_start:.0f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
