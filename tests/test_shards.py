"""Sharded corpora: vocoder-prepare --shards (resumable writes), data=shards (ranks x workers, exact resume,
mixing), S3 through a local moto server, and broken or unreachable shards."""

from __future__ import annotations

import gzip
import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.helpers.audio import write_corpus
from vocoder_train.data.loaders import VocoderData
from vocoder_train.data.options import Crops, Loaders, Loading, Shards
from vocoder_train.data.shards_read import ShardAudioDataset, ShardError, ShardSampler, ShardSource
from vocoder_train.data.shards_write import ShardOptions, write_shards

pytest.importorskip("litdata")

N_FILES = 48  # a multiple of 2 ranks x 2 workers x batch 2: an epoch reads every file once
SR = 16000
SHARDING = ShardOptions(sample_rate=SR, shard_mb=0.03, files_per_group=8)  # ~4 files a chunk, 6 groups


def _records(paths) -> list[dict]:
    return [
        dict(index=i, path=str(p), duration=0.25, sample_rate=SR, source="corpus", speaker=f"spk{i % 3}")
        for i, p in enumerate(paths)
    ]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict:
    """48 short files, their records, and their shards (train) plus 6 of them as val shards."""
    root = tmp_path_factory.mktemp("shards")
    specs = [(f"f{i:02d}.wav", (SR, 22050)[i % 2], 0.25 + 0.002 * i, 1) for i in range(N_FILES)]
    records = _records(write_corpus(root, specs))
    write_shards(records, root / "train", SHARDING, progress=False)
    write_shards(records[:6], root / "val", SHARDING, progress=False)
    return {"root": root, "records": records, "train": str(root / "train"), "val": str(root / "val")}


def _data(train, val, workers: int = 0, **shards) -> VocoderData:
    data = VocoderData(
        None,
        val,
        Loading(SR),
        Crops(1024, 2048),
        Loaders(batch_size=2, val_batch_size=2, num_workers=workers, persistent_workers=False, seed=3),
        shards=Shards(train, **shards),
    )
    data.setup("fit")
    return data


def test_every_file_once_over_two_ranks_by_two_workers(corpus):
    source = ShardSource(corpus["train"])
    assert len(source) == N_FILES and len(source.chunk_sizes()) > 8
    dataset = ShardAudioDataset([source], SR, 1024)
    seen, lanes = [], []
    for rank in range(2):
        sampler = ShardSampler([source.chunk_sizes()], batch_size=2, num_workers=2, rank=rank, world=2)
        lanes += [set(sampler.lane_order(rank * 2 + w).tolist()) for w in range(2)]
        loader = torch.utils.data.DataLoader(
            dataset, batch_size=2, sampler=sampler, num_workers=2, drop_last=True
        )
        seen += [i for batch in loader for i in batch["index"].tolist()]
    assert sorted(seen) == list(range(N_FILES))  # every file exactly once
    assert sum(len(x) for x in lanes) == len(set().union(*lanes)) == N_FILES  # the 4 lanes are disjoint
    ends = np.cumsum(source.chunk_sizes())
    chunks = [set(np.searchsorted(ends, sorted(x), side="right").tolist()) for x in lanes]
    assert all(len(c) <= len(ends) // 4 + 2 for c in chunks)  # each lane streams its own few chunks


def _epoch(data: VocoderData, skip: int) -> list[dict]:
    loader = data.train_dataloader(skip_batches=skip)
    loader.sampler.set_epoch(1)  # what Lightning does before each epoch
    return list(loader)


@pytest.mark.parametrize("workers", [0, 2])
def test_resume_mid_epoch_sees_the_batches_of_an_uninterrupted_epoch(corpus, workers):
    mixed = [{"name": "a", "url": corpus["train"], "weight": 3}, {"name": "b", "url": corpus["val"]}]
    for shards in (corpus["train"], mixed):
        data = _data(shards, corpus["val"], workers=workers, epoch_size=40)

        full, resumed = _epoch(data, 0), _epoch(data, 5)
        assert len(full) == 20 and len(resumed) == 15
        for a, b in zip(full[5:], resumed):
            assert torch.equal(a["index"], b["index"]) and torch.equal(a["audio"], b["audio"])
        assert torch.equal(_epoch(data, 0)[0]["audio"], full[0]["audio"])  # the skip applies once
        if isinstance(shards, list):
            names = set(data.source_names(torch.cat([b["index"] for b in full])))
            assert names == {"a", "b"}


def test_mixing_weights_within_two_percent_over_10k_draws():
    chunks = [[5] * 40, [3] * 20, [7] * 10]  # 200, 60 and 70 items
    weights = [5.0, 3.0, 2.0]
    sampler = ShardSampler(chunks, weights, epoch_size=10_000, batch_size=4, num_workers=2, rank=0, world=2)
    draws = []
    for rank in range(2):
        sampler.rank = rank
        draws += [i for i, _ in sampler]
    assert len(draws) == 10_000
    source = np.searchsorted(np.cumsum([200, 60, 70]), draws, side="right")
    shares = np.bincount(source, minlength=3) / len(draws)
    assert np.abs(shares - np.asarray(weights) / 10).max() < 0.02, shares


_PREPARE = """
import sys, time
import vocoder_train.data.shards_write as w
from vocoder_train.cli.prepare import main
item = w.shard_item
def slow(record, opts):
    time.sleep(0.15)  # slow enough to be killed halfway
    return item(record, opts)
w.shard_item = slow
sys.exit(main(sys.argv[1:]))
"""


def _shard_files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def test_prepare_killed_halfway_continues_to_the_same_shards(corpus, tmp_path):
    from vocoder_train.cli.prepare import main

    files = tmp_path / "files.txt"
    files.write_text("".join(r["path"] + "\n" for r in corpus["records"][:24]))
    script = tmp_path / "prepare.py"
    script.write_text(_PREPARE)

    def command(shards: Path) -> list[str]:
        options = [
            "--shard-group",
            "3",
            "--shard-mb",
            "0.03",
            "--sample-rate",
            str(SR),
            "--min-duration",
            "0.1",
        ]
        return [
            str(files),
            "-o",
            str(tmp_path / "out"),
            "--val-fraction",
            "0.1",
            "--shards",
            str(shards),
            *options,
        ]

    out = tmp_path / "killed" / "train"
    proc = subprocess.Popen(
        [sys.executable, str(script), *command(out.parent)], cwd=Path(__file__).parents[1]
    )
    try:
        deadline = time.monotonic() + 90
        while (
            len(list(out.glob(".groups/*.index.json"))) < 3
            and proc.poll() is None
            and time.monotonic() < deadline
        ):
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    done, total = (
        len(list(out.glob(".groups/*.index.json"))),
        json.loads((out / ".groups/plan.json").read_text()),
    )
    groups = -(-total["files"] // 3)
    assert 3 <= done < groups, "prepare must die halfway through the shards"
    assert not (out / "index.json").exists()  # readers never see a half-written dataset
    with pytest.raises(ShardError, match="no index.json"):
        ShardSource(str(out)).dataset()
    assert main([*command(out.parent), "--workers", "2"]) == 0  # the same command continues
    assert main(command(tmp_path / "whole")) == 0
    assert _shard_files(out) == _shard_files(tmp_path / "whole" / "train")
    assert not list(out.glob(".group-*")) and len(ShardSource(str(out))) == total["files"]
    with pytest.raises(ShardError, match="differ"):
        write_shards(corpus["records"][:5], out, ShardOptions(sample_rate=SR), progress=False)


def test_vocoder_prepare_writes_tagged_shards_and_reads_lhotse_manifests(make_corpus, tmp_path):
    from vocoder_train.cli.prepare import main

    paths = make_corpus([(f"s{i}.flac", 22050, 0.6, 1) for i in range(6)])
    recordings = [
        {
            "id": f"r{i}",
            "sources": [{"type": "file", "channels": [0], "source": str(p)}],
            "sampling_rate": 22050,
            "num_samples": 13230,
            "duration": 0.6,
            "channel_ids": [0],
        }
        for i, p in enumerate(paths)
    ]
    cuts = [
        {
            "id": f"c{i}",
            "start": 0.0,
            "duration": 0.6,
            "channel": 0,
            "recording": rec,
            "type": "MonoCut",
            "supervisions": [
                {
                    "id": f"s{i}",
                    "recording_id": rec["id"],
                    "start": 0.0,
                    "duration": 0.6,
                    "channel": 0,
                    "speaker": f"speaker{i % 2}",
                }
            ],
        }
        for i, rec in enumerate(recordings)
    ]
    cutset = tmp_path / "cuts.jsonl.gz"
    with gzip.open(cutset, "wt") as f:
        f.writelines(json.dumps(c) + "\n" for c in cuts)
    shards = tmp_path / "shards"
    args = [str(cutset), "-o", str(tmp_path / "out"), "--shards", str(shards), "--shard-audio", "original"]
    assert main([*args, "--val-fraction", "0.3", "--no-progress", "--sample-rate", str(SR)]) == 0
    manifest = [json.loads(x) for x in (tmp_path / "out" / "train.jsonl").read_text().splitlines()]
    source = ShardSource(str(shards / "train"))
    assert len(source) == len(manifest) > 0
    data, meta = source.read(0)
    assert meta["path"] == manifest[0]["path"] and meta["format"] == "flac" and meta["sample_rate"] == 22050
    assert meta["speaker"] in ("speaker0", "speaker1") and meta["source"] == str(cutset)
    assert data.tobytes() == Path(meta["path"]).read_bytes()
    item = ShardAudioDataset([source], SR, 4096, train=False)[0]
    assert item["audio"].shape == (4096,) and item["skipped"] == 0


@pytest.fixture
def s3(monkeypatch):
    """A moto S3 server on localhost: its endpoint URL; credentials in the environment."""
    pytest.importorskip("moto")
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(key, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert time.monotonic() < deadline and proc.poll() is None, "moto server did not start"
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.kill()
        proc.wait(timeout=30)


def test_reads_shards_from_a_local_s3_server(corpus, s3, tmp_path):
    import boto3

    client = boto3.client("s3", endpoint_url=s3)
    client.create_bucket(Bucket="vocoder-shards")
    for split in ("train", "val"):
        for f in Path(corpus[split]).iterdir():
            if f.is_file():
                client.upload_file(str(f), "vocoder-shards", f"corpus/{split}/{f.name}")
    url = "s3://vocoder-shards/corpus/train"
    data = _data(url, "s3://vocoder-shards/corpus/val", s3_endpoint=s3, shard_cache=str(tmp_path / "cache"))
    local = ShardAudioDataset([ShardSource(corpus["train"])], SR, 1024)
    batches = list(data.train_dataloader())
    assert sum(len(b["index"]) for b in batches) == N_FILES and not any(b["skipped"].any() for b in batches)
    first = data.train_dataloader().sampler
    index, seed = next(iter(first))
    assert torch.equal(data.train_set[(index, seed)]["audio"], local[(index, seed)]["audio"])
    assert len(list(data.val_dataloader())) == 3
    with pytest.raises(ShardError, match="vocoder-shards/missing"):
        len(ShardSource("s3://vocoder-shards/missing", endpoint_url=s3, cache_dir=str(tmp_path / "c2")))


def test_missing_or_corrupt_shards_are_counted_skips_and_dead_urls_clear_errors(corpus, tmp_path):
    import shutil

    for damage in ("missing", "corrupt"):
        folder = tmp_path / damage
        shutil.copytree(corpus["train"], folder)
        chunk = folder / "chunk-1-0.bin"
        chunk.unlink() if damage == "missing" else chunk.write_bytes(chunk.read_bytes()[:50])
        dataset = ShardAudioDataset([ShardSource(str(folder))], SR, 1024)
        start = time.monotonic()
        items = [dataset[(i, i)] for i in range(N_FILES)]
        assert 1 <= sum(x["skipped"] for x in items) <= 8 and time.monotonic() - start < 30
        assert any("chunk-1-0.bin" in x["skipped_path"] or "[" in x["skipped_path"] for x in items)
    with pytest.raises(ShardError, match="no index.json"):
        ShardSource(str(tmp_path)).dataset()
    start = time.monotonic()
    with pytest.raises(ShardError, match=r"127\.0\.0\.1:9.*endpoint"):
        ShardSource(
            "s3://bucket/train", endpoint_url="http://127.0.0.1:9", cache_dir=str(tmp_path / "c")
        ).dataset()
    assert time.monotonic() - start < 60


def test_data_shards_config_composes_checks_and_loads(corpus, tiny_cfg):
    from hydra.utils import instantiate

    overrides = ["data=shards", "data.train=null", f"data.val={corpus['val']}", "data.num_workers=0"]
    cfg = tiny_cfg(*overrides, f"data.shards={corpus['train']}")
    assert cfg.data.train is None and cfg.data.s3_endpoint is None
    assert VocoderData.config_problems(cfg.data, "data", cfg) == []
    data = instantiate(cfg.data)
    data.setup("fit")
    batch = next(iter(data.train_dataloader()))
    assert batch["audio"].shape == (16, cfg.audio.segment_length)
    assert next(iter(data.val_dataloader()))["audio"].shape == (4, cfg.data.val_segment_length)
    bad = tiny_cfg(*overrides, f"data.shards={corpus['root']}", f"data.train={corpus['val']}")
    problems = VocoderData.config_problems(bad.data, "data", bad)
    assert any("both set" in x for x in problems) and any("no index.json" in x for x in problems)
