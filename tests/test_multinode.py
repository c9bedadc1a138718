"""Two nodes on localhost: two torchrun agents (c10d rendezvous, one training process each) run
``vocoder-train trainer=ddp trainer.num_nodes=2`` on shards written by ``vocoder-prepare --shards``, stop
mid-epoch, and the same command with more steps resumes from last.ckpt on both nodes."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.helpers.audio import write_corpus
from tests.helpers.ddp import assert_ranks_agree, load_dumps
from tests.helpers.multinode import run_agents

pytest.importorskip("litdata")

TRAIN_FILES = 16  # 2 ranks x 4 batches of 2: one epoch is 4 iterations
BATCH = 2
SEED = 5


def _shards(folder: Path) -> Path:
    """``vocoder-prepare --shards`` of 18 short files (16 train, 2 val), about one file a shard."""
    from vocoder_train.cli.prepare import main

    write_corpus(folder, [(f"f{i:02d}.wav", 16000, 0.6, 1) for i in range(TRAIN_FILES + 2)])
    (folder / "val.txt").write_text(f"f{TRAIN_FILES:02d}.wav\nf{TRAIN_FILES + 1:02d}.wav\n")
    args = [str(folder / "corpus"), "-o", str(folder / "prepared"), "--val-list", str(folder / "val.txt")]
    args += ["--shards", str(folder / "shards"), "--sample-rate", "16000", "--shard-mb", "0.02"]
    assert main([*args, "--shard-group", "4", "--no-progress"]) == 0
    return folder / "shards"


def _planned(shards: Path, epoch: int, rank: int, skip: int, batches: int) -> list[int]:
    """The items that rank ``rank`` of 2 reads in batches ``skip .. skip + batches - 1`` of ``epoch``."""
    from vocoder_train.data.shards_read import ShardSampler, ShardSource

    sizes = ShardSource(str(shards)).chunk_sizes()
    sampler = ShardSampler([sizes], seed=SEED, batch_size=BATCH, rank=rank, world=2)
    sampler.set_epoch(epoch)
    return [i for i, _ in sampler][skip * BATCH : (skip + batches) * BATCH]


@pytest.mark.slow
def test_two_torchrun_nodes_train_on_shards_and_resume(tmp_path):
    shards = _shards(tmp_path)
    runs = tmp_path / "runs"

    def overrides(max_steps: int, dumps: Path) -> list[str]:
        trainer = ["trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=1", "trainer.num_nodes=2"]
        trainer += ["trainer.precision=32-true", f"trainer.max_steps={max_steps}"]
        data = [
            "data=shards",
            "data.train=null",
            f"data.shards={shards / 'train'}",
            f"data.val={shards / 'val'}",
        ]
        data += [f"data.batch_size={BATCH}", "data.val_batch_size=2", "data.val_segment_length=4096"]
        dump = [
            "+callbacks.rank_dump._target_=tests.helpers.ddp.RankDump",
            f"+callbacks.rank_dump.folder={dumps}",
        ]
        return [
            "experiment=tiny",
            *trainer,
            *data,
            "data.num_workers=0",
            "model.optim.pretrain_mel_steps=1",
            "cpu_threads=1",
            f"seed={SEED}",
            f"paths.runs_dir={runs}",
            *dump,
        ]

    # 2 iterations (a mel-only step, then one D + G step: global step 3), half an epoch
    run_agents(tmp_path, "first", overrides(3, tmp_path / "first"))
    first = load_dumps(tmp_path / "first", 2)
    assert [d["backend"] for d in first] == ["gloo", "gloo"] and [d["nodes"] for d in first] == [2, 2]
    assert sorted(d["node"] for d in first) == [0, 1]
    assert_ranks_agree(first, steps=3)
    last = runs / "tiny" / "checkpoints" / "last.ckpt"
    checkpoint = torch.load(last, weights_only=False)
    assert checkpoint["global_step"] == 3
    first_epoch = checkpoint["epoch"]

    # the same command with more steps: both nodes resume from last.ckpt
    logs = run_agents(tmp_path, "resumed", overrides(7, tmp_path / "resumed"))
    assert all(f"resuming from {last}" in log for log in logs)
    resumed = load_dumps(tmp_path / "resumed", 2)
    assert_ranks_agree(resumed, steps=7)
    assert torch.load(last, weights_only=False)["global_step"] == 7
    assert any(not torch.equal(v, first[0]["state"][k]) for k, v in resumed[0]["state"].items())

    # each rank read its own items: its part of the shard order of a world of 2, the resumed run from the
    # batch where the first stopped (in the epoch the checkpoint holds: Lightning counts the epoch that
    # max_steps ended as finished)
    for run, epoch, skip in ((first, 0, 0), (resumed, first_epoch, 2)):
        assert not set(run[0]["items"]) & set(run[1]["items"])
        for rank, dump in enumerate(run):
            assert dump["items"] == _planned(shards / "train", epoch, rank, skip, batches=2)
