"""Writing a prepared corpus as LitData shards (``vocoder-prepare ... --shards OUT``).

``OUT/train`` and ``OUT/val`` each become a LitData dataset (``index.json`` + ``chunk-*.bin`` of about
``--shard-mb`` MB) that :mod:`vocoder_train.data.shards_read` streams from a folder or an ``s3://`` copy
of it. An item is one accepted file, in manifest order::

    {"index": 0, "audio": int16 samples (pcm16) or the file's bytes (original),
     "meta": '{"format": "pcm16" | "flac" | ..., "sample_rate": 24000, "duration": 3.2,
               "source": "corpus/", "speaker": "1034", "path": "/abs/a.flac"}'}

(the tags are one JSON string: LitData would store a string naming an audio file as that file's audio).

``pcm16`` stores mono 16-bit samples at the training rate (no decoding or resampling while training);
``original`` stores each file's bytes as they are (smaller for FLAC/MP3; decoded when read).

The files are written in groups of ``files_per_group``, each by one worker process into a hidden folder
``.group-<g>.tmp``; a finished group's chunks (``chunk-<g>-<k>.bin``) move into place and its index into
``.groups/<g>.index.json``. ``index.json``, the only file a reader opens first, is written last and
atomically from the groups' indexes, so no reader ever sees a half-written dataset. A run that is killed
and started again with the same files and settings writes only the groups that had not finished, and
ends with the same shards as a run that was never interrupted. Memory does not grow with the number of
files: a worker holds one item at a time, the main process one group's list of records.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import queue
import shutil
import sys
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from vocoder_train.data.shards_read import INDEX_FILE, PCM16, ShardError, to_pcm16

SHARD_AUDIO = (PCM16, "original")
GROUPS = ".groups"
_PLAN = "plan.json"


@dataclass(frozen=True)
class ShardOptions:
    """How ``vocoder-prepare --shards`` writes.

    Args:
        audio: ``pcm16`` (mono 16-bit at ``sample_rate``) or ``original`` (the file's bytes).
        sample_rate: the training rate, for ``pcm16``.
        shard_mb: target size of one chunk file in MB.
        files_per_group: files a worker writes in one go; a restart resumes at a group boundary.
        workers: processes writing groups in parallel (the output is the same for any number).
        resample_quality: kernel of :func:`vocoder_train.io.audio.resample`, for ``pcm16``.
    """

    audio: str = PCM16
    sample_rate: int = 24000
    shard_mb: float = 64.0
    files_per_group: int = 1000
    workers: int = 1
    resample_quality: str = "high"

    def check(self) -> None:
        if self.audio not in SHARD_AUDIO:
            raise ShardError(f"--shard-audio {self.audio}: must be one of {', '.join(SHARD_AUDIO)}")
        if not self.shard_mb > 0 or self.files_per_group < 1 or self.workers < 1:
            raise ShardError(
                f"--shard-mb {self.shard_mb} / --shard-group {self.files_per_group}: must be positive"
            )


def shard_item(record: dict, opts: ShardOptions) -> dict:
    """The stored item of one manifest ``record`` (``index``, ``path``, ``duration``, ``sample_rate``,
    optional ``source`` and ``speaker``)."""
    from vocoder_train.io.audio import load_audio

    path = Path(record["path"])
    if opts.audio == PCM16:
        audio, rate = load_audio(path, opts.sample_rate, quality=opts.resample_quality)
        data, fmt = to_pcm16(audio[0]), PCM16
    else:
        try:
            data = np.frombuffer(path.read_bytes(), dtype=np.uint8)
        except OSError as e:
            raise ShardError(f"{path}: cannot be read ({e.strerror}); was it moved after probing?") from e
        rate, fmt = int(record["sample_rate"]), path.suffix.lstrip(".").lower() or "audio"
    meta = dict(
        format=fmt,
        sample_rate=int(rate),
        duration=float(record["duration"]),
        source=str(record.get("source") or ""),
        speaker=str(record.get("speaker") or ""),
        path=str(path),
    )
    return {"index": int(record["index"]), "audio": data, "meta": json.dumps(meta, ensure_ascii=False)}


@contextlib.contextmanager
def _litdata_rank(rank: int) -> Iterator[None]:
    """LitData names a writer's chunks ``chunk-<rank>-<k>.bin`` after this variable (its optimize
    workers set it); a group's number keeps the names of every group apart and the same on a rerun."""
    key, old = "DATA_OPTIMIZER_GLOBAL_RANK", os.environ.get("DATA_OPTIMIZER_GLOBAL_RANK")
    os.environ[key] = str(rank)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = old


def _write_group(job: tuple[str, int, list[dict], ShardOptions]) -> int:
    """Writes group ``g`` into ``OUT/.group-<g>.tmp``, then moves it into place; returns its item count."""
    from litdata.streaming.writer import BinaryWriter

    out, g, records, opts = job
    out = Path(out)
    tmp = out / f".group-{g}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    with _litdata_rank(g), warnings.catch_warnings():
        # a file longer than --shard-mb is one chunk of its own: nothing to warn about
        warnings.filterwarnings("ignore", message="An item was larger than the target chunk size")
        # msg_queue: the writer reports the item layout it inferred there instead of printing it
        writer = BinaryWriter(str(tmp), chunk_bytes=int(opts.shard_mb * 1e6), msg_queue=queue.SimpleQueue())
        for i, record in enumerate(records):
            writer.add_item(i, shard_item(record, opts))
        writer.done()
    for chunk in sorted(tmp.glob("chunk-*.bin")):
        os.replace(chunk, out / chunk.name)
    os.replace(tmp / f"{g}.{INDEX_FILE}", out / GROUPS / f"{g}.{INDEX_FILE}")  # the group is done
    shutil.rmtree(tmp)
    return len(records)


def _plan(records: Sequence[dict], opts: ShardOptions) -> dict:
    digest = hashlib.blake2b(digest_size=16)
    for r in records:
        digest.update(f"{r['path']}\0{r.get('source', '')}\0{r.get('speaker', '')}\n".encode())
    settings = {k: v for k, v in asdict(opts).items() if k != "workers"}
    return {"files": len(records), "inputs": digest.hexdigest(), **settings}


def _check_plan(out: Path, plan: dict) -> None:
    """Starts a new write, or checks that ``out`` is a write of the same files and settings to continue."""
    path = out / GROUPS / _PLAN
    if path.is_file():
        old = json.loads(path.read_text())
        if old != plan:
            changed = ", ".join(k for k in plan if old.get(k) != plan[k])
            raise ShardError(
                f"{out}: holds shards of other files or settings ({changed} differ); remove the folder or "
                "give another --shards folder"
            )
        return
    if out.exists() and any(p.name != GROUPS for p in out.iterdir()):
        raise ShardError(f"{out}: exists and is not a --shards folder of vocoder-prepare; choose another")
    (out / GROUPS).mkdir(parents=True, exist_ok=True)
    _write_json(path, plan)


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _merge(out: Path, groups: int) -> None:
    """``index.json`` from the groups' indexes, in group order (item ``i`` is the ``i``-th file)."""
    chunks, config = [], None
    for g in range(groups):
        part = json.loads((out / GROUPS / f"{g}.{INDEX_FILE}").read_text())
        if config is not None and part["config"].get("data_format") != config.get("data_format"):
            raise ShardError(f"{out}: group {g} was written with another item layout; remove the folder")
        config = config or part["config"]
        chunks += part["chunks"]
    _write_json(out / INDEX_FILE, {"chunks": chunks, "config": config})


def _groups(records: Sequence[dict], size: int, out: Path, opts: ShardOptions, todo: list[int]):
    for g in todo:
        yield str(out), g, list(records[g * size : (g + 1) * size]), opts


def write_shards(
    records: Sequence[dict], out: str | os.PathLike, opts: ShardOptions, progress: bool = True
) -> dict:
    """Writes ``records`` (manifest entries with ``index``, ``path``, ``duration``, ``sample_rate``, and
    optional ``source``, ``speaker``) as a LitData dataset in ``out``; continues an interrupted write.

    Returns ``{"files", "hours", "groups", "written"}`` (``written``: groups written by this call)."""
    from tqdm import tqdm

    opts.check()
    out = Path(out)
    if not records:
        raise ShardError(f"{out}: no files to write")
    _check_plan(out, _plan(records, opts))
    size = opts.files_per_group
    groups = -(-len(records) // size)
    todo = [g for g in range(groups) if not (out / GROUPS / f"{g}.{INDEX_FILE}").is_file()]
    jobs = _groups(records, size, out, opts, todo)
    bar = tqdm(
        total=len(todo), desc=f"shards {out.name}", unit="group", file=sys.stderr, disable=not progress
    )
    with bar:
        if opts.workers <= 1 or len(todo) < 2:
            for _ in map(_write_group, jobs):
                bar.update()
        else:
            _write_parallel(jobs, min(opts.workers, len(todo)), bar)
    if todo or not (out / INDEX_FILE).is_file():
        _merge(out, groups)
    hours = sum(float(r["duration"]) for r in records) / 3600
    return {"files": len(records), "hours": hours, "groups": groups, "written": len(todo)}


def _write_parallel(jobs, workers: int, bar) -> None:
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    from vocoder_train.data.probe import _init_worker

    # fork where there is fork, as the probing pool does: a spawned worker re-imports torch
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    ctx = multiprocessing.get_context(method)
    with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker) as pool:
        pending: set = set()
        for job in jobs:  # a few groups in flight, not all of them queued at once
            if len(pending) >= 2 * workers:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for f in done:
                    f.result()
                    bar.update()
            pending.add(pool.submit(_write_group, job))
        for f in wait(pending).done:
            f.result()
            bar.update()


def write_prepared_shards(
    folder: str | os.PathLike,
    splits: dict[str, Sequence],
    tags: dict[str, dict],
    opts: ShardOptions,
    progress: bool = True,
) -> dict[str, dict]:
    """``folder/<split>`` for each non-empty split of ``vocoder-prepare`` (``{"train": [FileStats], ...}``);
    ``tags``: per path, its ``source`` and ``speaker``. Returns :func:`write_shards`' summary per split,
    with its ``path``."""
    written = {}
    for split, stats in splits.items():
        if not stats:
            continue
        records = ({**s.manifest_item(), "index": i, **tags.get(s.path, {})} for i, s in enumerate(stats))
        out = Path(folder) / split
        written[split] = {"path": out, **write_shards(list(records), out, opts, progress)}
    return written
