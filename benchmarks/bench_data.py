"""Training data at scale: the loader of ``data=shards`` (LitData shards) against the per-file manifest.

    python -m benchmarks.run --only data [--quick] [--batch 16] [--segment 16384]

On a generated corpus of short clips (20,000 files of 0.5-1 s, 24 kHz 16-bit WAV; ``--quick``: 2,000),
written once as a JSONL manifest and as ``vocoder-prepare --shards`` writes it (``pcm16``, default
``--shard-mb 64`` and ``--shard-group 1000``: a chunk ends with its group, so 1000 clips, ~36 MB), and
kept in ``<tmp>/vocoder_bench_data/<n>-files`` so that later runs skip the generation:

* **items/s** after the first batch and **time to the first batch** (from building ``VocoderData``
  to the first batch in hand: setup, loader, worker start, first downloads) of the training loader as
  ``VocoderData.train_dataloader`` builds it (same crops, gains, samplers, collation), with 1 and 2
  workers, from local disk (warm page cache) and from a local S3 server (moto in a subprocess) that
  waits :data:`DELAY_S` before answering each request. Shards are read from ``s3://`` by LitData with
  a fresh chunk cache for every measurement, so chunk downloads are counted. The per-file dataset
  cannot open ``s3://`` paths; its S3 row is ``AudioDataset`` with each file fetched by one boto3
  ``get_object`` of the whole object (one request an item, its best case) and decoded from memory
  (``decode_audio_bytes``), then cropped and scaled as from disk. Shards and per-file alternate in the
  same process, with workers, the S3 server and this process sharing the machine's cores.
* **memory** of the training data as the corpus grows (10k, 100k, 1M entries; ``--quick``: 1k, 10k):
  the RSS increase of ``VocoderData.setup`` + ``train_dataloader`` in a fresh process, then with the
  sampler's first draw (the epoch's order) added, for a synthetic manifest vs a synthetic shard index
  of as many items (chunks as large as the generated corpus's first one; the chunk files are not read).

Times are wall-clock (worker processes do the reading). The per-file decoder (torchcodec) and boto3
are loaded in the main process before the workers start, as the shards' libraries are by ``setup``,
so that the first batch measures the data, not a library import (torchcodec alone takes 1.5-6 s on a
busy 2-core machine; without it each per-file worker imports it on its first file).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.harness import ROOT, Benchmark, Options, fmt_s, progress, rss_mb

SR = 24000
DELAY_S = 0.02  # added to every request to the S3 server
BUCKET = "vocoder-bench"
SHARDS, FILES = "shards", "per-file"
LOCAL, S3 = "local disk", "S3 + 20 ms"
WORKERS = (1, 2)
VAL_FILES = 4


def cache_root() -> Path:
    return Path(tempfile.gettempdir()) / "vocoder_bench_data"


# -- the corpus --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Corpus:
    root: Path
    records: list[dict]

    @property
    def manifest(self) -> Path:
        return self.root / "train.jsonl"

    @property
    def val(self) -> Path:
        return self.root / "val.jsonl"

    @property
    def shards(self) -> Path:
        return self.root / "shards"


def make_corpus(n: int) -> Corpus:
    """``n`` clips of 0.5-1 s (a tone and noise), their manifest and their shards; reused when present."""
    import soundfile

    from vocoder_train.data.manifest import read_manifest, write_manifest
    from vocoder_train.data.shards_read import INDEX_FILE
    from vocoder_train.data.shards_write import ShardOptions, write_shards

    root = cache_root() / f"{n}-files"
    corpus = Corpus(root, [])
    if not corpus.manifest.is_file():  # written last: its presence means the files are complete
        progress("data", f"generating {n} files in {root}")
        rng = np.random.default_rng(0)
        records = []
        for i in range(n):
            frames = int(rng.uniform(0.5, 1.0) * SR)
            t = np.arange(frames) / SR
            x = 0.3 * np.sin(2 * np.pi * rng.uniform(90, 400) * t) + 0.05 * rng.standard_normal(frames)
            path = root / "files" / f"{i // 1000:03d}" / f"f{i:06d}.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            soundfile.write(path, x.astype(np.float32), SR, subtype="PCM_16")
            records.append(
                dict(path=str(path), sample_rate=SR, num_channels=1, num_frames=frames, duration=frames / SR)
            )
        write_manifest(corpus.val, records[:VAL_FILES])
        write_manifest(corpus.manifest, records)
    corpus = Corpus(root, read_manifest(corpus.manifest))
    if not (corpus.shards / INDEX_FILE).is_file():
        progress("data", f"writing the shards of {n} files")
        indexed = [{**r, "index": i} for i, r in enumerate(corpus.records)]
        write_shards(indexed, corpus.shards, ShardOptions(sample_rate=SR, workers=2), progress=False)
    return corpus


# -- the S3 server -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoints:
    plain: str  # for filling the bucket
    delayed: str  # every request waits DELAY_S


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(plain_port: int, delayed_port: int, delay_s: float) -> None:
    """moto's S3 on two ports of one process (one store): as is, and with ``delay_s`` before each answer."""
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    app = DomainDispatcherApplication(create_backend_app)

    def delayed(environ, start_response):
        time.sleep(delay_s)
        return app(environ, start_response)

    def server(port: int, wsgi):
        return make_server("127.0.0.1", port, wsgi, threaded=True, request_handler=MotoRequestHandler)

    plain = server(plain_port, app)
    threading.Thread(target=plain.serve_forever, daemon=True).start()
    server(delayed_port, delayed).serve_forever()


@contextlib.contextmanager
def s3_server(corpus: Corpus) -> Iterator[Endpoints]:
    """A moto server holding ``corpus``' files under ``files/`` and its shards under ``shards/train/``."""
    ports = _free_port(), _free_port()
    cmd = [
        sys.executable,
        "-m",
        "benchmarks.bench_data",
        "--serve",
        *map(str, ports),
        "--delay",
        str(DELAY_S),
    ]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        for port in ports:
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        raise RuntimeError("the moto server did not start") from None
                    time.sleep(0.1)
        endpoints = Endpoints(*(f"http://127.0.0.1:{p}" for p in ports))
        _fill(endpoints.plain, corpus)
        yield endpoints
    finally:
        proc.kill()
        proc.wait(timeout=30)


def _s3_client(endpoint: str):
    import boto3
    import botocore.config

    return boto3.client("s3", endpoint_url=endpoint, config=botocore.config.Config(max_pool_connections=16))


def _fill(endpoint: str, corpus: Corpus) -> None:
    client = _s3_client(endpoint)
    client.create_bucket(Bucket=BUCKET)
    shards = [p for p in (corpus.shards).iterdir() if p.is_file()]
    jobs = [(p, f"shards/train/{p.name}") for p in shards]
    jobs += [(Path(r["path"]), s3_key(r)) for r in corpus.records]
    t = time.perf_counter()
    with ThreadPoolExecutor(8) as pool:
        list(
            pool.map(lambda job: client.put_object(Bucket=BUCKET, Key=job[1], Body=job[0].read_bytes()), jobs)
        )
    progress("data", f"S3 server filled: {len(jobs)} objects in {time.perf_counter() - t:.0f} s")


def s3_key(record: dict) -> str:
    return f"files/{Path(record['path']).name}"


@contextlib.contextmanager
def moto_credentials() -> Iterator[None]:
    """moto's credentials in the environment (the loader's worker processes inherit them)."""
    keys = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    old = {k: os.environ.get(k) for k in keys}
    os.environ.update(keys)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def s3_file_dataset(items: list[dict], endpoint: str, *args, **kwargs):
    """The per-file ``AudioDataset`` reading ``s3://`` paths: one ``get_object`` a file, decoded in memory."""
    from vocoder_train.data.dataset import AudioDataset
    from vocoder_train.io.audio import decode_audio_bytes

    class S3FileDataset(AudioDataset):
        _client = None

        def _read_span(self, item, rng):
            return self._get(item)

        def _read_head(self, item):
            return self._get(item)[: self.segment_length]

        def _get(self, item):
            if self._client is None:  # one client per worker process
                self._client = _s3_client(endpoint)
            bucket, key = item["path"].removeprefix("s3://").split("/", 1)
            data = self._client.get_object(Bucket=bucket, Key=key)["Body"].read()
            return decode_audio_bytes(data, item["path"], self.sample_rate, quality=self.resample_quality)[0][
                0
            ]

        def __getstate__(self):
            return {**self.__dict__, "_client": None}

    return S3FileDataset(items, *args, **kwargs)


# -- items/s and the first batch ---------------------------------------------------------------------


def _data(corpus: Corpus, opts: Options, workers: int, kind: str, s3: Endpoints | None, cache: Path):
    """``VocoderData`` set up for training as the config builds it, reading ``kind`` from disk or S3."""
    from vocoder_train.data.loaders import VocoderData
    from vocoder_train.data.options import Crops, Loaders, Loading, Shards

    loaders = Loaders(
        batch_size=opts.batch,
        val_batch_size=1,
        num_workers=workers,
        persistent_workers=False,
        pin_memory=False,
        seed=0,
    )
    common = dict(loading=Loading(SR), crops=Crops(opts.segment, opts.segment), loaders=loaders)
    if kind == SHARDS:
        url = str(corpus.shards) if s3 is None else f"s3://{BUCKET}/shards/train"
        shards = Shards(url, s3_endpoint=s3 and s3.delayed, shard_cache=s3 and str(cache))
        data = VocoderData(None, str(corpus.val), shards=shards, **common)
    else:
        data = VocoderData(str(corpus.manifest), str(corpus.val), **common)
        if s3 is not None:
            items = [{**r, "path": f"s3://{BUCKET}/{s3_key(r)}"} for r in corpus.records]
            data.train_set = s3_file_dataset(
                items, s3.delayed, SR, opts.segment, partial_reads=True, **data._crop_options(True)
            )
    data.setup("fit")
    return data


def measure(build: Callable[[], object], n_items: int) -> dict:
    """Seconds to the first batch (building included) and items/s of the next ``n_items``."""
    t0 = time.perf_counter()
    it = iter(build().train_dataloader())
    first = next(it)
    t1 = time.perf_counter()
    count, skipped = 0, int(first["skipped"].sum())
    for batch in it:
        count += len(batch["index"])
        skipped += int(batch["skipped"].sum())
        if count >= n_items:
            break
    t2 = time.perf_counter()
    del it  # its workers stop
    if skipped:
        raise RuntimeError(f"{skipped} items could not be read: the figures would not be of reads")
    return {"first_s": t1 - t0, "items_per_s": count / (t2 - t1)}


def loader_runs(corpus: Corpus, opts: Options, s3: Endpoints, reps: int, items: dict) -> dict:
    """Every (storage, workers, kind) ``reps`` times, shards and per-file alternated (order flipped on odd
    rounds); a fresh chunk cache for each S3 shards measurement."""
    out: dict = {}
    cache = corpus.root / "s3-cache"

    def one(storage: str, workers: int, kind: str, n: int) -> dict:
        shutil.rmtree(cache, ignore_errors=True)
        res = measure(lambda: _data(corpus, opts, workers, kind, s3 if storage == S3 else None, cache), n)
        shutil.rmtree(cache, ignore_errors=True)
        return res

    for kind in (SHARDS, FILES):  # untimed: page cache, decoder libraries, the server's first answers
        one(LOCAL, 1, kind, 8 * opts.batch)
    for r in range(reps):
        for storage in (LOCAL, S3):
            for workers in WORKERS:
                for kind in (SHARDS, FILES) if r % 2 == 0 else (FILES, SHARDS):
                    res = one(storage, workers, kind, items[storage, kind])
                    progress(
                        "data",
                        f"round {r + 1}/{reps} {storage}, {workers} worker(s), {kind}: "
                        f"{res['items_per_s']:.0f} items/s, first batch {res['first_s']:.2f} s",
                    )
                    for key, v in res.items():
                        out.setdefault(f"{storage}|{workers}|{kind}", {}).setdefault(key, []).append(v)
    return out


# -- memory ------------------------------------------------------------------------------------------


def synthetic_manifest(folder: Path, n: int) -> Path:
    """A JSONL manifest of ``n`` entries shaped as vocoder-prepare writes them (files need not exist)."""
    from vocoder_train.data.manifest import write_manifest

    path = folder / f"manifest-{n}.jsonl"
    if not path.is_file():
        write_manifest(
            path,
            (
                dict(
                    path=f"/corpora/speech/spk{i % 2000:04d}/utt{i:08d}.flac",
                    sample_rate=SR,
                    num_channels=1,
                    num_frames=18000 + i % 6000,
                    duration=(18000 + i % 6000) / SR,
                )
                for i in range(n)
            ),
        )
    return path


def synthetic_shards(folder: Path, n: int, real: Path) -> Path:
    """An ``index.json`` of ``n`` items in chunks like the first one of the shards in ``real``."""
    from vocoder_train.data.shards_read import INDEX_FILE

    out = folder / f"shards-{n}"
    if not (out / INDEX_FILE).is_file():
        index = json.loads((real / INDEX_FILE).read_text())
        proto = index["chunks"][0]
        chunks, left = [], n
        while left:
            size = min(left, proto["chunk_size"])
            chunk = {**proto, "chunk_size": size, "filename": f"chunk-0-{len(chunks)}.bin"}
            chunk["chunk_bytes"] = proto["chunk_bytes"] * size // proto["chunk_size"]
            chunks.append(chunk)
            left -= size
        out.mkdir(parents=True, exist_ok=True)
        (out / INDEX_FILE).write_text(json.dumps({"chunks": chunks, "config": index["config"]}))
    return out


def memory_probe(kind: str, n: int, corpus_root: Path) -> dict:
    """In this (fresh) process: MB of RSS that training's data takes for ``n`` entries of ``kind``."""
    import litdata  # noqa: F401 - imported before the baseline, as torch and the loaders are

    from vocoder_train.data.loaders import VocoderData
    from vocoder_train.data.options import Crops, Loaders, Loading, Shards

    corpus = Corpus(corpus_root, [])
    folder = corpus_root / "memory"
    folder.mkdir(exist_ok=True)
    source = synthetic_manifest(folder, n) if kind == FILES else synthetic_shards(folder, n, corpus.shards)
    common = dict(loading=Loading(SR), crops=Crops(16384, 16384), loaders=Loaders(num_workers=0))
    gc.collect()
    before, t = rss_mb(), time.perf_counter()
    if kind == FILES:
        data = VocoderData(str(source), str(corpus.val), **common)
    else:
        data = VocoderData(None, str(corpus.val), shards=Shards(str(source)), **common)
    data.setup("fit")
    loader = data.train_dataloader()
    seconds = time.perf_counter() - t
    gc.collect()
    dataset = rss_mb() - before
    draws = iter(loader.sampler)
    next(draws)  # the epoch's order is made
    gc.collect()
    return {
        "items": len(data.train_set),
        "dataset_mb": dataset,
        "order_mb": rss_mb() - before,
        "seconds": seconds,
    }


def memory_runs(corpus: Corpus, sizes: tuple[int, ...]) -> dict:
    out = {}
    for n in sizes:
        for kind in (FILES, SHARDS):
            cmd = [
                sys.executable,
                "-m",
                "benchmarks.bench_data",
                "--memory-probe",
                kind,
                str(n),
                str(corpus.root),
            ]
            res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
            if res.returncode:
                raise RuntimeError(f"memory probe {kind} {n} failed:\n{res.stderr[-3000:]}")
            out[f"{n}|{kind}"] = json.loads(res.stdout.strip().splitlines()[-1])
            progress("data", f"memory {kind} {n}: {out[f'{n}|{kind}']}")
    return out


# -- the section -------------------------------------------------------------------------------------


def run(opts: Options) -> dict:
    n_files = 2_000 if opts.quick else 20_000
    reps = opts.reps
    local_items = 512 if opts.quick else 4096
    items = {(LOCAL, SHARDS): local_items, (LOCAL, FILES): local_items}
    items |= {(S3, SHARDS): local_items, (S3, FILES): 128 if opts.quick else 512}
    corpus = make_corpus(n_files)
    import torchcodec.decoders  # noqa: F401 - the per-file decoder, loaded before the workers fork

    with moto_credentials(), s3_server(corpus) as s3:
        loader = loader_runs(corpus, opts, s3, reps, items)
    sizes = (1_000, 10_000) if opts.quick else (10_000, 100_000, 1_000_000)
    chunks = json.loads((corpus.shards / "index.json").read_text())["chunks"]
    return {
        "loader": loader,
        "memory": memory_runs(corpus, sizes),
        "n_files": n_files,
        "items": {f"{s}|{k}": v for (s, k), v in items.items()},
        "chunks": len(chunks),
        "chunk_items": chunks[0]["chunk_size"],
        "corpus": str(corpus.root),
    }


def format_data(res: dict, opts: Options) -> str:
    lo = res["loader"]
    it = res["items"]
    lines = [
        f"Training loader over {res['n_files']} generated 0.5-1 s 24 kHz WAV files vs their shards "
        f"({res['chunks']} chunks of about {res['chunk_items']} items): batch {opts.batch}, crops of "
        f"{opts.segment} samples, items/s after the first batch (median, min-max of {opts.reps}) over "
        f"{it[f'{LOCAL}|{SHARDS}']} items ({it[f'{S3}|{FILES}']} for per-file from S3), time to the first "
        "batch from building VocoderData; S3: moto on localhost, 20 ms added to every request",
        "",
        "| storage | workers | shards items/s | per-file items/s | ratio shards / per-file "
        "| shards first batch s | per-file first batch s |",
        "|---|---|---|---|---|---|---|",
    ]
    for storage in (LOCAL, S3):
        for workers in WORKERS:
            sh, pf = lo[f"{storage}|{workers}|{SHARDS}"], lo[f"{storage}|{workers}|{FILES}"]
            ratio = statistics.median(sh["items_per_s"]) / statistics.median(pf["items_per_s"])
            lines.append(
                f"| {storage} | {workers} | {fmt_s(sh['items_per_s'], digits=0)} | "
                f"{fmt_s(pf['items_per_s'], digits=0)} | {ratio:.1f} | {fmt_s(sh['first_s'])} | "
                f"{fmt_s(pf['first_s'])} |"
            )
    mem = res["memory"]
    sizes = sorted({int(k.split("|")[0]) for k in mem})
    lines += [
        "",
        "Memory of the training data (RSS increase in a fresh process): VocoderData.setup + "
        "train_dataloader, then with the sampler's epoch order; synthetic manifest vs synthetic shard "
        "index of as many items",
        "",
        "| entries | per-file MB | shards MB | per-file + order MB | shards + order MB | per-file setup s | "
        "shards setup s |",
        "|---|---|---|---|---|---|---|",
    ]
    for n in sizes:
        cells = [f"{n:,}"]
        for key, digits in (("dataset_mb", 1), ("order_mb", 1), ("seconds", 2)):
            cells += [f"{mem[f'{n}|{kind}'][key]:.{digits}f}" for kind in (FILES, SHARDS)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


BENCHMARK = Benchmark("data", "Training data: shards vs per-file", run, format_data)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="helpers of the data benchmark (run it with benchmarks.run)")
    ap.add_argument("--serve", nargs=2, type=int, metavar=("PLAIN_PORT", "DELAYED_PORT"))
    ap.add_argument("--delay", type=float, default=DELAY_S)
    ap.add_argument("--memory-probe", nargs=3, metavar=("KIND", "N", "CORPUS"))
    args = ap.parse_args(argv)
    if args.serve:
        serve(*args.serve, args.delay)
    elif args.memory_probe:
        kind, n, root = args.memory_probe
        print(json.dumps(memory_probe(kind, int(n), Path(root))))
    else:
        ap.error("give --serve or --memory-probe")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
