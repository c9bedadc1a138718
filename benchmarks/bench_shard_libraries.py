"""Read speed of the two shard libraries that fit the design (docs/guide-scale.md, "Choosing the shard
library"): LitData and MosaicML streaming, on the same few thousand short int16 clips on local disk.

    python benchmarks/bench_shard_libraries.py --items 4000 --workdir /tmp/shard_bench
    PYTHONPATH=<mosaicml-streaming install> python benchmarks/bench_shard_libraries.py --library mosaic ...

Each library writes its own shards (about 64 MB each) and then streams them once with shuffling on,
in one process; the figure is items a second (warm page cache), best of 3 passes. For LitData it also
reads every item by index in the chunk-by-chunk order of ``data=shards``
(:class:`vocoder_train.data.shards_read.ShardSampler`), one item decoded at a time (``batch_decode=0``),
which is how ``data=shards`` reads.
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

import numpy as np


def clips(n: int, seconds: float, rate: int = 24000):
    rng = np.random.default_rng(0)
    for i in range(n):
        yield i, (rng.standard_normal(int(seconds * rate)) * 3000).astype(np.int16)


def litdata_write(out: Path, n: int, seconds: float) -> None:
    from litdata.streaming.writer import BinaryWriter

    w = BinaryWriter(str(out), chunk_bytes="64MB")
    for i, audio in clips(n, seconds):
        w.add_item(i, {"index": i, "audio": audio, "speaker": f"s{i % 7}"})
    w.done()
    w._merge_no_wait()  # one writer: its own index is the dataset's


def litdata_read(out: Path) -> int:
    from litdata import StreamingDataset

    count = 0
    for item in StreamingDataset(str(out), shuffle=True, seed=0):
        count += int(item["audio"].shape[0] > 0)
    return count


def litdata_read_by_index(out: Path) -> int:
    from litdata import StreamingDataset

    from vocoder_train.data.shards_read import ShardSampler

    ds = StreamingDataset(str(out), batch_decode=0)
    sampler = ShardSampler([[b - a for a, b in ds.region_of_interest]], rank=0, world=1)
    count = 0
    for index, _ in sampler:
        count += int(ds[index]["audio"].shape[0] > 0)
    return count


def mosaic_write(out: Path, n: int, seconds: float) -> None:
    from streaming import MDSWriter

    cols = {"index": "int", "audio": "ndarray:int16", "speaker": "str"}
    with MDSWriter(out=str(out), columns=cols, size_limit="64mb") as w:
        for i, audio in clips(n, seconds):
            w.write({"index": i, "audio": audio, "speaker": f"s{i % 7}"})


def mosaic_read(out: Path) -> int:
    from streaming import StreamingDataset

    count = 0
    ds = StreamingDataset(local=str(out), shuffle=True, shuffle_seed=0, batch_size=1)
    for item in ds:
        count += int(item["audio"].shape[0] > 0)
    return count


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--library", choices=("litdata", "litdata-index", "mosaic"), default="litdata")
    p.add_argument("--items", type=int, default=4000)
    p.add_argument("--seconds", type=float, default=1.0)
    p.add_argument("--workdir", default="/tmp/shard_bench")
    a = p.parse_args()
    out = Path(a.workdir) / a.library
    shutil.rmtree(out, ignore_errors=True)
    write, read = {
        "litdata": (litdata_write, litdata_read),
        "litdata-index": (litdata_write, litdata_read_by_index),
        "mosaic": (mosaic_write, mosaic_read),
    }[a.library]
    t = time.perf_counter()
    write(out, a.items, a.seconds)
    written = time.perf_counter() - t
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        assert read(out) == a.items
        best = min(best, time.perf_counter() - t)
    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file()) / 1e6
    print(
        f"{a.library}: {a.items} items of {a.seconds:g} s int16, {size:.0f} MB; "
        f"write {a.items / written:.0f} items/s; read {a.items / best:.0f} items/s"
    )


if __name__ == "__main__":
    main()
