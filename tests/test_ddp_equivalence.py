"""Lightning DDP (gloo, 2 CPU processes) at batch B trains the same weights as one process at batch 2B.

What makes the two runs comparable, and is what the test holds:

- the same items each iteration: the sampler takes one permutation a (seed, epoch) and gives rank r
  every 2nd item of it (as ``DistributedSampler`` does), so the two ranks' B items of iteration k are
  the one process's 2B items of iteration k (the corpus is a multiple of 2B, so nothing is dropped);
- the same crops and gains: each item's randomness is a function of (seed, epoch, index), not of the
  rank or the worker; no augmentation (``data.augment: null``), no dropout, no BatchNorm in the tiny
  generator and discriminators;
- losses that are means over batch items (L1 mel, hinge, feature matching: ``.mean()``, summed over
  discriminators), so the mean of two B-item means is the 2B-item mean, and DDP averages gradients.

AdamW is nearly blind to a constant factor on the gradients, so equal weights alone would not show
a sum where a mean belongs: the gradient norms of every step, taken after DDP's all-reduce, must be
equal too (a sum doubles them).
"""

from __future__ import annotations

import pytest

from tests.helpers.ddp import CPU_DDP, finish_ddp, max_differences, start_ddp, tiny_overrides

FILES, B, ITERATIONS = 8, 2, 3
# float32 sums the 2B items' gradient in another order than two B-item halves averaged by DDP: ~1e-7
# relative per element. AdamW's first steps are about lr * sign(g), so an element whose gradient is
# near 0 can move differently by a little of lr (5e-4); measured after 3 iterations: largest 1.5e-6
# (2.6e-6 with onednn=false), median 5e-10. One process at batch B instead (other items) differs by
# 2e-3 at most, 1e-3 median: 200x the tolerance.
ATOL = 1e-5


@pytest.mark.slow
def test_two_processes_at_batch_b_train_the_weights_of_one_at_batch_2b(make_corpus, tmp_path):
    train = make_corpus([(f"t{i}.wav", 16000, 0.4 + 0.05 * i, 1) for i in range(FILES)], "train")
    files = tmp_path / "train.txt"
    files.write_text("\n".join(map(str, train)) + "\n")
    common = [
        *(o for o in CPU_DDP if not o.startswith("trainer.devices=")),  # both runs: one trainer config
        f"trainer.max_steps={2 * ITERATIONS}",  # a D and a G step an iteration
        "trainer.limit_val_batches=0",
        "model.optim.pretrain_mel_steps=0",  # GAN from the first iteration: both optimizers step
    ]
    runs = {}
    for name, extra in (
        ("one", ["trainer.strategy=auto", "trainer.devices=1", f"data.batch_size={2 * B}"]),
        ("two", ["trainer.devices=2", f"data.batch_size={B}"]),
    ):
        (tmp_path / name).mkdir()
        overrides = [*tiny_overrides(files, files, tmp_path / name / "runs"), *common, *extra]
        runs[name] = start_ddp(tmp_path / name, overrides)
    (one,) = finish_ddp(runs["one"], ranks=1)
    two = finish_ddp(runs["two"], ranks=2)

    assert one["world"] == 1 and one["backend"] is None
    assert [r["world"] for r in two] == [2, 2] and [r["backend"] for r in two] == ["gloo", "gloo"]
    assert one["step"] == two[0]["step"] == 2 * ITERATIONS
    norms = [n for step in one["grad_norms"] for n in step]
    for rank in two:
        assert [n for step in rank["grad_norms"] for n in step] == pytest.approx(norms, rel=1e-5)
    diffs = max_differences(one["state"], two[0]["state"])
    worst = sorted(diffs.items(), key=lambda kv: -kv[1])[:5]
    assert max(diffs.values()) < ATOL, worst
