"""Lightning DDP with 2 CPU processes (gloo): validation scores every file once. That ranks train equal
weights is held by tests/test_ddp_equivalence.py (2 x B equals 1 x 2B) and tests/test_multinode.py (two
torchrun nodes, bitwise-equal ranks, checkpoint and resume)."""

from __future__ import annotations

import pytest

from tests.helpers.ddp import CPU_DDP, tiny_overrides, validate


@pytest.mark.slow
@pytest.mark.parametrize("files", [5, 1])
def test_validation_scores_every_file_once_on_two_ranks(make_corpus, tiny_corpus, tmp_path, files):
    """5 files on 2 ranks (one rank has 3, the other 2 and a padding item) and 1 file on 2 ranks (one
    rank only padding) give the metrics of one process."""
    val = make_corpus([(f"v{i}.wav", 16000, 0.4 + 0.1 * i, 1) for i in range(files)], "val5")
    (tmp_path / "val.txt").write_text("\n".join(map(str, val)) + "\n")
    overrides = [
        *tiny_overrides(tiny_corpus["train"], tmp_path / "val.txt", tmp_path / "runs"),
        "validation.metrics=[mrstft,stoi,pesq]",
        "onednn=false",
        "validation.slow_every=1",
    ]
    (tmp_path / "one").mkdir()
    (one,) = validate(tmp_path / "one", overrides, ranks=1)
    (tmp_path / "two").mkdir()
    two = validate(tmp_path / "two", [*overrides, *CPU_DDP], ranks=2)
    assert one["world"] == 1 and [r["world"] for r in two] == [2, 2]
    names = {"val/mel_l1", "val/mrstft", "val/stoi", "val/pesq"}
    assert names <= one.keys()
    for rank in two:
        assert rank.keys() == one.keys()
        for k in names:
            assert rank[k] == pytest.approx(one[k], rel=1e-5, abs=1e-6), k
