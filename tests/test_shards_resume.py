"""data=shards through a real training process: killed (SIGKILL) mid-epoch, the same command continues
exactly; the later losses and the final weights equal an uninterrupted run's (as tests/test_resume.py
checks for the per-file data)."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.helpers import runs

pytest.importorskip("litdata")


@pytest.mark.slow
def test_sigkill_mid_epoch_then_rerun_continues_exactly_on_shards(tiny_corpus, tmp_path):
    from vocoder_train.data.shards_write import ShardOptions, write_shards

    files = Path(tiny_corpus["train"]).read_text().split() * 4  # 12 items: 6 batches an epoch
    records = [dict(index=i, path=p, duration=1.0, sample_rate=16000) for i, p in enumerate(files)]
    write_shards(records, tmp_path / "shards", ShardOptions(sample_rate=16000, shard_mb=0.05), progress=False)

    def command(name: str) -> list[str]:
        overrides = [
            o
            for o in runs.resumable_overrides(tiny_corpus, tmp_path, tmp_path / name)
            if "data.train" not in o
        ]
        overrides += [
            "data=shards",
            "data.train=null",
            f"data.shards={tmp_path / 'shards'}",
            "data.batch_size=2",
        ]
        overrides += ["data.val_batch_size=2", "data.num_workers=0", "data.val_segment_length=4096"]
        return runs.recording_command(tmp_path, tmp_path / f"{name}.jsonl", overrides)

    runs.run(command("reference"))
    runs.run_and_signal(command("killed"), tmp_path / "killed.jsonl", step=11, sig=signal.SIGKILL)
    assert 11 <= max(runs.rows(tmp_path / "killed.jsonl")) < 17, "the process must die mid-run"
    runs.run(command("killed"))
    runs.assert_same_run(tmp_path / "reference.jsonl", tmp_path / "killed.jsonl")
