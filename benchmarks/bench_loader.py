"""Data loader: items/s of one worker, our ``AudioDataset`` (partial reads, cached resampler) vs
``torchaudio.load`` of the whole file + ``torchaudio.functional.resample`` + random crop, on a generated
44.1 kHz WAV corpus of 3-10 s files, 24 kHz crops of ``opts.segment`` samples."""

from __future__ import annotations

import random
import tempfile
from pathlib import Path

import torch

from benchmarks.harness import Benchmark, Options, alternate, ratio_table
from benchmarks.upstream import SR

OURS, PLAIN = "ours AudioDataset", "torchaudio.load + resample + crop"


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


def run(opts: Options) -> dict:
    import torchaudio
    import torchaudio.functional as AF

    from vocoder_train.data.dataset import AudioDataset

    n_files = 12 if opts.quick else 40
    n_items = 24 if opts.quick else 80
    reps = 2 if opts.quick else 5
    with tempfile.TemporaryDirectory() as tmp:
        items = make_corpus(Path(tmp), n_files)
        ours = AudioDataset(items, SR, opts.segment, train=True)
        rng = random.Random(0)

        def plain(i: int) -> torch.Tensor:
            wave, sr = torchaudio.load(items[i]["path"])
            wave = AF.resample(wave.mean(0), sr, SR)
            start = rng.randrange(max(1, wave.numel() - opts.segment + 1))
            return wave[start : start + opts.segment]

        def run_ours() -> None:
            for i in range(n_items):
                ours[(i % n_files, 1000 + i)]

        def run_plain() -> None:
            for i in range(n_items):
                plain(i % n_files)

        run_ours(), run_plain()  # warm-up: resampler kernels, decoder libraries, page cache
        seconds = alternate({OURS: run_ours, PLAIN: run_plain}, reps, opts.now)
    t = {k: [n_items / s for s in v] for k, v in seconds.items()}
    return {"items_per_s": t, "n_files": n_files, "n_items": n_items}


def format_loader(res: dict, opts: Options) -> str:
    title = (
        f"Data loader, one worker (num_workers=0): {res['n_files']} generated 44.1 kHz WAV files of 3-10 s, "
        f"{SR // 1000} kHz crops of {opts.segment} samples, {res['n_items']} items per measurement"
    )
    return ratio_table(title, ("loader", "items/s"), res["items_per_s"], PLAIN, "ratio to plain", digits=1)


BENCHMARK = Benchmark("loader", "Data loader", run, format_loader)
