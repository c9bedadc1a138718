"""Data mixing: weighted, deterministic, rank-aware, resumable draws over several corpora."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vocoder_train.data.mixing import WeightedResumableSampler, normalize_sources


def test_empirical_mix_matches_the_weights_within_3_sigma():
    sizes, weights = [10, 1000, 50], [1.0, 1.0, 2.0]  # shares 0.25 / 0.25 / 0.5, whatever the sizes
    s = WeightedResumableSampler(sizes, weights, seed=7, epoch_size=20_000)
    idx = np.array([i for i, _ in s])
    counts = np.bincount(s.source_of(idx), minlength=3)
    n = len(idx)
    for c, p in zip(counts, np.array(weights) / sum(weights)):
        sigma = math.sqrt(n * p * (1 - p))  # binomial
        assert abs(c - n * p) <= 3 * sigma, (counts, n * p)
    # within a corpus the draws cycle through permutations: the small one is covered evenly
    small = np.bincount(idx[idx < 10], minlength=10)
    assert small.max() - small.min() <= 1


def test_draws_are_deterministic_per_seed_and_epoch():
    a = WeightedResumableSampler([5, 7], [1, 3], seed=1)
    b = WeightedResumableSampler([5, 7], [1, 3], seed=1)
    assert list(a) == list(b) and len(a) == 12  # epoch = sum of sizes by default
    b.set_epoch(1)
    assert list(a) != list(b)
    assert list(WeightedResumableSampler([5, 7], [1, 3], seed=2)) != list(a)
    seeds = [sd for _, sd in a]
    assert len(set(seeds)) == len(seeds)  # a file drawn twice gets two different crops


def test_resume_skips_exactly_the_consumed_draws():
    full = list(WeightedResumableSampler([4, 9], [2, 1], seed=3, epoch_size=30))
    s = WeightedResumableSampler([4, 9], [2, 1], seed=3, epoch_size=30)
    s.skip_next(12)
    assert list(s) == full[12:]
    assert list(s) == full  # skipping applies to the next iteration only


def test_ranks_split_one_epoch_without_overlap():
    ranks = []
    for rank in range(3):
        s = WeightedResumableSampler([6, 8], [1, 1], seed=0, epoch_size=31)
        s.rank, s.world = rank, 3
        ranks.append(list(s))
    assert all(len(r) == 10 for r in ranks)  # equal counts on every rank
    single = list(WeightedResumableSampler([6, 8], [1, 1], seed=0, epoch_size=31))
    merged = [ranks[p % 3][p // 3] for p in range(30)]
    assert merged == single[:30]


def test_bad_sources_are_named():
    with pytest.raises(ValueError, match=r"sources\[1\].weight"):
        normalize_sources([{"manifest": "a"}, {"manifest": "b", "weight": 0}])
    with pytest.raises(ValueError, match=r"sources\[0\]: needs a 'manifest'"):
        normalize_sources([{"weight": 1}])
    with pytest.raises(ValueError, match="used twice"):
        normalize_sources([{"manifest": "a", "name": "x"}, {"manifest": "b", "name": "x"}])
    assert [s["name"] for s in normalize_sources([{"manifest": "a"}, {"manifest": "b"}])] == [
        "source0",
        "source1",
    ]


def test_datamodule_mixes_sources_and_names_the_source_of_each_item(make_corpus, tmp_path):
    from vocoder_train.data.loaders import VocoderData
    from vocoder_train.data.options import Crops, Loaders, Loading, Mixing

    a = make_corpus([(f"a{i}.wav", 16000, 0.3, 1) for i in range(2)], "A")
    b = make_corpus([(f"b{i}.wav", 16000, 0.3, 1) for i in range(6)], "B")
    (tmp_path / "a.txt").write_text("\n".join(map(str, a)))
    (tmp_path / "b.txt").write_text("\n".join(map(str, b)))
    sources = [
        {"name": "a", "manifest": str(tmp_path / "a.txt"), "weight": 3},
        {"name": "b", "manifest": str(tmp_path / "b.txt"), "weight": 1},
    ]
    dm = VocoderData(
        None,
        str(tmp_path / "b.txt"),
        Loading(16000),
        Crops(1024, 1024),
        Loaders(batch_size=4, num_workers=0, seed=5),
        mixing=Mixing(sources, epoch_size=40),
    )
    dm.setup("fit")
    loader = dm.train_dataloader()
    assert isinstance(loader.sampler, WeightedResumableSampler) and len(loader) == 10
    drawn = [name for batch in loader for name in dm.source_names(batch["index"])]
    expected = [
        "a" if i < 2 else "b" for i, _ in WeightedResumableSampler([2, 6], [3, 1], seed=5, epoch_size=40)
    ]
    assert drawn == expected
    assert dm.source_names([0, 1, 2, 7]) == ["a", "a", "b", "b"]
    assert (
        len(dm.train_dataloader(skip_batches=3)) == 10 and len(list(dm.train_dataloader(skip_batches=3))) == 7
    )
    with pytest.raises(ValueError, match="both set"):
        VocoderData(str(tmp_path / "a.txt"), "v", Loading(16000), Crops(1024, 1024), mixing=Mixing(sources))


def test_mix_config_composes():
    from hydra import compose, initialize_config_dir

    from vocoder_train.config import CONFIG_DIR

    with initialize_config_dir(CONFIG_DIR, version_base="1.3"):
        cfg = compose(
            "train", overrides=["data=mix", "data.val=v", "data.sources=[{manifest: a, weight: 2}]"]
        )
    assert cfg.data.train is None and cfg.data.sources[0].weight == 2 and cfg.data.epoch_size is None


def test_training_on_mixed_sources_logs_the_mix(tiny_cfg, tiny_corpus):
    from pathlib import Path

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from vocoder_train.training.run import train

    a = f"{{name: a, manifest: {tiny_corpus['train']}, weight: 3}}"
    b = f"{{name: b, manifest: {tiny_corpus['val']}, weight: 1}}"
    sources = f"data.sources=[{a}, {b}]"
    cfg = tiny_cfg(
        "data=mix",
        "data.train=null",
        sources,
        "trainer.max_steps=4",
        "validation.metrics=[]",
        "callbacks.data_health.mix_every_n_steps=1",
    )
    train(cfg)
    ea = EventAccumulator(str(Path(cfg.paths.output_dir) / "tensorboard"))
    ea.Reload()
    shares = {
        k: ea.Scalars(f"data/mix_{k}")[-1].value
        for k in ("a", "b")
        if f"data/mix_{k}" in ea.Tags()["scalars"]
    }
    assert shares and sum(shares.values()) == pytest.approx(1.0)
