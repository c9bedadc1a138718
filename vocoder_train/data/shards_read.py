"""Training on sharded corpora (``data=shards``): LitData shards from local folders or ``s3://`` URLs.

``vocoder-prepare ... --shards OUT`` (:mod:`vocoder_train.data.shards_write`) writes ``OUT/train`` and
``OUT/val``, each a LitData dataset (``index.json`` + ``chunk-*.bin``), one item per audio file.
LitData finds, downloads, caches and decodes the chunks; this module decides which item is read when:

- :class:`ShardSampler` orders an epoch chunk by chunk (chunks in a random order, the items of a chunk
  in a random order), so a process streams through a few chunks at a time instead of touching every
  chunk of the corpus; each of the ranks x workers ("lanes") takes its own contiguous part of that
  order, so lanes read disjoint items and (but at the edges of their parts) disjoint chunks. It has
  the interface of :class:`~vocoder_train.data.sampler.ResumableSampler`: the order is a pure function
  of ``(seed, epoch)``, and ``skip_next`` resumes mid-epoch from the batch count that Lightning keeps
  in the checkpoint, so a resumed run sees the batches an uninterrupted one would have.
- Several sharded sources mix by weight as :mod:`vocoder_train.data.mixing` mixes manifests: source
  ``s`` gets ``weight_s / sum(weights)`` of the draws whatever its size.
- :class:`ShardAudioDataset` is :class:`~vocoder_train.data.dataset.AudioDataset` reading its items from
  the shards: the same crops, gains, augmentation and counted skips of unreadable items.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from vocoder_train.data.dataset import AudioDataset
from vocoder_train.data.mixing import normalize_sources
from vocoder_train.data.sampler import EpochSampler, item_seed
from vocoder_train.io.audio import AudioReadError, decode_audio_bytes, resample

PCM16 = "pcm16"  # the "format" of items stored as 16-bit samples at the training rate
INDEX_FILE = "index.json"
_STREAM = 0x7368617264  # "shard": keeps these draws independent of the other samplers'
_MIX_STREAM = 0x6D6978
# S3 requests fail after these instead of retrying for hours (LitData's own default) on a dead endpoint
S3_CONNECT_TIMEOUT_S = 10
S3_READ_TIMEOUT_S = 60
S3_MAX_ATTEMPTS = 3


class ShardError(ValueError):
    """Shards that cannot be opened; the message names the URL and what to do."""


def to_pcm16(audio: torch.Tensor) -> np.ndarray:
    """float samples in [-1, 1] (T,) -> the int16 samples a ``pcm16`` item stores."""
    return (audio.clamp(-1.0, 1.0) * 32767.0).round().short().numpy()


def from_pcm16(data: np.ndarray) -> torch.Tensor:
    """A ``pcm16`` item's int16 samples -> float samples (T,)."""
    return torch.from_numpy(data.astype(np.float32) / 32768.0)


def is_shard_location(location: str | os.PathLike) -> bool:
    """True for an ``s3://`` URL or a folder holding a LitData ``index.json``."""
    text = str(location)
    return text.startswith("s3://") or os.path.isfile(os.path.join(text, INDEX_FILE))


def s3_options(endpoint_url: str | None) -> dict:
    """LitData ``storage_options`` for S3: a custom endpoint (MinIO, moto, Ceph, ...) and bounded retries.

    Credentials come from the usual AWS variables or files; ``endpoint_url`` None uses
    ``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL`` when set, else AWS itself."""
    import botocore.config

    endpoint = endpoint_url or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    config = botocore.config.Config(
        connect_timeout=S3_CONNECT_TIMEOUT_S,
        read_timeout=S3_READ_TIMEOUT_S,
        retries={"max_attempts": S3_MAX_ATTEMPTS, "mode": "standard"},
    )
    if endpoint and endpoint.startswith("http://"):
        _allow_http()
    return {"config": config, **({"endpoint_url": endpoint} if endpoint else {})}


def _allow_http() -> None:
    """LitData downloads chunks with obstore, whose HTTP client refuses a plain ``http://`` endpoint (a
    MinIO or moto on the local network) unless its client options allow it, and LitData 0.2 passes no
    such option: add it to the options LitData gives every obstore client of this process."""
    from litdata.streaming import downloader

    options = getattr(downloader, "_OBSTORE_CLIENT_OPTIONS", None)
    if isinstance(options, dict):
        options["allow_http"] = True


@dataclass
class ShardSource:
    """One sharded corpus: a local folder or an ``s3://`` URL written by ``vocoder-prepare --shards``.

    Args:
        url: the folder or URL (``OUT/train``).
        name: its label in ``data/mix_<name>``.
        weight: its share of the draws when several sources mix.
        endpoint_url: S3 endpoint for ``s3://`` URLs (None: the AWS variables, else AWS).
        cache_dir: where downloaded chunks are kept (None: LitData's default).
    """

    url: str
    name: str = "shards"
    weight: float = 1.0
    endpoint_url: str | None = None
    cache_dir: str | None = None
    _dataset: object = field(default=None, repr=False, compare=False)
    _bad_chunks: dict = field(default_factory=dict, repr=False, compare=False)  # chunk -> error, this process
    _chunk_ends: np.ndarray | None = field(default=None, repr=False, compare=False)

    @property
    def remote(self) -> bool:
        return self.url.startswith("s3://")

    def dataset(self):
        """The LitData ``StreamingDataset`` (opened once per process; reading the index may download it)."""
        if self._dataset is None:
            from litdata import StreamingDataset
            from litdata.streaming.item_loader import PyTreeLoader

            if not self.remote and not os.path.isfile(os.path.join(self.url, INDEX_FILE)):
                raise ShardError(
                    f"{self.url}: no {INDEX_FILE} here; give the train/ or val/ folder that vocoder-prepare "
                    "--shards wrote (a write that did not finish has none: rerun it to complete it)"
                )
            try:
                loader = PyTreeLoader(batch_decode=0)
                self._dataset = StreamingDataset(
                    self.url,
                    cache_dir=self.cache_dir,
                    storage_options=s3_options(self.endpoint_url) if self.remote else None,
                    item_loader=loader,
                    batch_decode=0,  # items are read one by one in this module's order
                )
                # whole chunks, which the order reads through, instead of one ranged GET an item; set
                # before the first read (the reader takes it when it is made; switching later stalls it)
                self._dataset._on_demand_bytes = False
                if self.remote:
                    # LitData reads an item of a downloaded chunk through a memory map only for chunks it
                    # was told may be mapped (its own iteration tells it, reading by index does not), and
                    # otherwise reads the whole chunk file (up to --shard-mb) for every item: ~40 items/s.
                    # Chunks are downloaded under a temporary name and renamed into place, so a mapped
                    # chunk that another worker deletes or downloads again stays valid: map them all.
                    loader.set_mmap_allowed_chunks(set(range(len(self._dataset.region_of_interest))))
            except Exception as e:  # botocore, LitData and JSON errors, with their own words
                where = f" (endpoint {s3_options(self.endpoint_url).get('endpoint_url', 'AWS')})"
                raise ShardError(
                    f"{self.url}: cannot open the shards{where if self.remote else ''}: {e} - check the URL, "
                    "the endpoint (data.s3_endpoint or AWS_ENDPOINT_URL) and the credentials"
                ) from e
        return self._dataset

    def chunk_sizes(self) -> list[int]:
        """Items in each chunk, in the dataset's order."""
        return [int(b - a) for a, b in self.dataset().region_of_interest]

    def _chunk_of(self, index: int) -> int:
        if self._chunk_ends is None:
            self._chunk_ends = np.cumsum(self.chunk_sizes())
        return int(np.searchsorted(self._chunk_ends, index, side="right"))

    def __len__(self) -> int:
        return sum(self.chunk_sizes())

    def read(self, index: int) -> tuple[np.ndarray, dict]:
        """Item ``index`` of this source: its ``audio`` array and its tags (``format``, ``sample_rate``,
        ``duration``, ``source``, ``speaker``, ``path``; :mod:`vocoder_train.data.shards_write`).

        Raises :class:`~vocoder_train.io.audio.AudioReadError` naming the shard for a missing or broken
        chunk (counted and replaced by the dataset, as an unreadable file is)."""
        ds = self.dataset()
        chunk = self._chunk_of(index)
        if chunk in self._bad_chunks:  # its other items fail at once, without LitData's wait for the chunk
            raise AudioReadError(
                f"{self.url}[{index}]: in a shard that could not be read ({self._bad_chunks[chunk]})"
            )
        try:
            item = ds[int(index)]
            meta = json.loads(item["meta"])
        except Exception as e:  # noqa: BLE001 - a missing file, a truncated chunk, a failed download
            self._bad_chunks[chunk] = first_line = str(e).split(". ")[0]
            raise AudioReadError(f"{self.url}[{index}]: cannot be read from the shards ({first_line})") from e
        return np.asarray(item["audio"]), meta

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_dataset"], state["_bad_chunks"] = None, {}  # each worker process opens its own
        return state


class ShardItems(Sequence):
    """The items of several sources as one sequence of small dicts, looked up when read (never listed);
    ``limit``: only the first items."""

    def __init__(self, sources: Sequence[ShardSource], limit: int | None = None):
        self.sources = list(sources)
        self.sizes = [len(s) for s in self.sources]
        self.offsets = np.concatenate([[0], np.cumsum(self.sizes)]).astype(np.int64)
        self.limit = int(self.offsets[-1]) if limit is None else min(int(limit), int(self.offsets[-1]))

    def __len__(self) -> int:
        return self.limit

    def source_of(self, index) -> np.ndarray:
        return np.searchsorted(self.offsets, np.asarray(index), side="right") - 1

    def __getitem__(self, index: int) -> dict:
        if not 0 <= index < len(self):
            raise IndexError(index)
        s = int(self.source_of(index))
        local = int(index - self.offsets[s])
        return {"path": f"{self.sources[s].url}[{local}]", "source": s, "local": local}


class ShardAudioDataset(AudioDataset):
    """:class:`~vocoder_train.data.dataset.AudioDataset` over sharded sources (items concatenated in
    source order): the same keys, crops, gains, augmentation and skips. Items are whole clips in memory,
    so there are no partial reads and no per-file cache."""

    def __init__(
        self,
        sources: Sequence[ShardSource],
        sample_rate: int,
        segment_length: int,
        limit: int | None = None,
        **kwargs,
    ):
        kwargs.update(partial_reads=False, cache_audio=False)
        super().__init__(ShardItems(sources, limit), sample_rate, segment_length, **kwargs)

    def _read_span(self, item: dict, rng) -> torch.Tensor:
        return self._decode(item)

    def _read_head(self, item: dict) -> torch.Tensor:
        return self._decode(item)[: self.segment_length]

    def _decode(self, item: dict) -> torch.Tensor:
        data, meta = self.items.sources[item["source"]].read(item["local"])
        if meta["format"] == PCM16:
            audio = from_pcm16(data)
            return resample(audio, int(meta["sample_rate"]), self.sample_rate, self.resample_quality)
        audio, _ = decode_audio_bytes(
            data.tobytes(),
            f"{item['path']} ({meta['path']})",
            self.sample_rate,
            quality=self.resample_quality,
        )
        return audio[0]


class ShardSampler(EpochSampler):
    """Yields ``(index, item_seed)`` over sharded sources, chunk by chunk, split over ranks x workers.

    Each epoch has ``epoch_size`` draws (default: all items of all sources). They are dealt to
    ``world x lanes`` lanes (``lanes`` = DataLoader workers, at least 1), ``lane_items`` each (a whole
    number of batches, the same on every rank, as DDP needs). A lane draws the source of each item by
    weight, and takes the items of a source from its own contiguous part of that source's chunk-by-chunk
    order; a source that runs out starts a new order (the next pass). With one source and
    ``epoch_size`` a multiple of ``world x lanes x batch_size``, an epoch reads every item exactly once.
    The batches of a rank alternate between its lanes as the DataLoader deals them to its workers
    (batch ``j`` to worker ``j % workers``), so each worker reads its lane's chunks.

    Args:
        chunk_sizes: per source, the items in each of its chunks (:meth:`ShardSource.chunk_sizes`).
        weights: share of the draws per source (None: by size).
        seed: the run's seed.
        epoch_size: draws per epoch over all ranks (None: the items of all sources).
        batch_size: the per-device batch size.
        num_workers: the DataLoader's workers (0: one lane in the main process).
        rank, world: this process's rank and the world size (None: from torch.distributed).
    """

    def __init__(
        self,
        chunk_sizes: Sequence[Sequence[int]],
        weights: Sequence[float] | None = None,
        seed: int = 0,
        epoch_size: int | None = None,
        batch_size: int = 1,
        num_workers: int = 0,
        rank: int | None = None,
        world: int | None = None,
    ):
        super().__init__(seed)
        if rank is not None:
            self.rank, self.world = int(rank), int(world or 1)
        self.chunks = [np.asarray(c, dtype=np.int64) for c in chunk_sizes]
        self.sizes = [int(c.sum()) for c in self.chunks]
        self.offsets = np.concatenate([[0], np.cumsum(self.sizes)[:-1]]).astype(np.int64)
        w = np.asarray(self.sizes if weights is None else weights, dtype=np.float64)
        if len(w) != len(self.chunks) or not (w > 0).all():
            raise ValueError(f"ShardSampler: need one weight > 0 per source, got {list(w)}")
        self.probs = w / w.sum()
        self.lanes, self.batch_size = max(1, int(num_workers)), int(batch_size)
        lanes_total = self.world * self.lanes
        self.epoch_size = int(epoch_size) if epoch_size else sum(self.sizes)
        self.lane_items = self.epoch_size // lanes_total // self.batch_size * self.batch_size
        if self.lane_items == 0:
            raise ValueError(
                f"an epoch of {self.epoch_size} items cannot give each of {self.world} ranks x {self.lanes} "
                f"workers a batch of {self.batch_size}: use fewer workers, a smaller batch or more data"
            )
        small = [i for i, n in enumerate(self.sizes) if n < lanes_total]
        if small:
            raise ValueError(
                f"sharded source(s) {small} hold fewer items ({[self.sizes[i] for i in small]}) than "
                f"{self.world} ranks x {self.lanes} workers: use fewer workers or leave such sources out"
            )

    def __len__(self) -> int:
        return self.lanes * self.lane_items

    def _order_slice(self, source: int, npass: int, start: int, stop: int) -> np.ndarray:
        """Items ``[start, stop)`` of pass ``npass`` of ``source``'s chunk-by-chunk order (local indices)."""
        sizes = self.chunks[source]
        ss = np.random.SeedSequence([self.seed, self.epoch, npass, source, _STREAM])
        order = np.random.Generator(np.random.PCG64(ss)).permutation(len(sizes))
        ends = np.cumsum(sizes[order])
        first_item = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        parts = []
        for i in range(int(np.searchsorted(ends, start, side="right")), len(order)):
            begin = int(ends[i] - sizes[order[i]])
            if begin >= stop:
                break
            c = int(order[i])
            inner = np.random.SeedSequence([self.seed, self.epoch, npass, source, c, _STREAM])
            items = first_item[c] + np.random.Generator(np.random.PCG64(inner)).permutation(int(sizes[c]))
            parts.append(items[max(start - begin, 0) : stop - begin])
        return np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)

    def _lane_stream(self, source: int, lane: int, count: int) -> np.ndarray:
        """The first ``count`` items (concatenated indices) that ``lane`` takes from ``source``."""
        part = self.sizes[source] // (self.world * self.lanes)
        chunks = [
            self._order_slice(source, p, lane * part, (lane + 1) * part) for p in range(-(-count // part))
        ]
        return self.offsets[source] + np.concatenate(chunks or [np.empty(0, dtype=np.int64)])[:count]

    def lane_order(self, lane: int) -> np.ndarray:
        """The concatenated indices of global lane ``lane`` (``rank * lanes + worker``) this epoch."""
        n = self.lane_items
        if len(self.sizes) == 1:
            return self._lane_stream(0, lane, n)
        ss = np.random.SeedSequence([self.seed, self.epoch, lane, _MIX_STREAM])
        source = np.random.Generator(np.random.PCG64(ss)).choice(len(self.sizes), size=n, p=self.probs)
        out = np.empty(n, dtype=np.int64)
        for s in range(len(self.sizes)):
            where = np.flatnonzero(source == s)
            if where.size:
                out[where] = self._lane_stream(s, lane, where.size)
        return out

    def __iter__(self) -> Iterator[tuple[int, int]]:
        n, b, lanes = self.lane_items, self.batch_size, self.lanes
        first = self.rank * lanes
        order = np.stack([self.lane_order(first + w) for w in range(lanes)])  # (lanes, n)
        position = (first + np.arange(lanes))[:, None] * n + np.arange(n)[None, :]  # unique in the epoch

        def batches(a: np.ndarray) -> np.ndarray:  # batch j from lane j % lanes: the DataLoader's dealing
            return a.reshape(lanes, n // b, b).transpose(1, 0, 2).reshape(-1)

        order, position = batches(order), batches(position)
        for k in range(self._take_skip(), len(order)):
            yield int(order[k]), item_seed(self.seed, self.epoch, int(position[k]))


def open_sources(sources, endpoint_url: str | None = None, cache_dir: str | None = None) -> list[ShardSource]:
    """``data.shards`` -> :class:`ShardSource` list: a folder or URL (one source), or ``[{name, url,
    weight}, ...]`` mixed by weight (names and weights checked as ``data.sources``' are)."""
    entries = [sources] if isinstance(sources, str | os.PathLike) else list(sources or [])
    entries = [{"url": e} if isinstance(e, str | os.PathLike) else e for e in entries]
    try:
        normal = normalize_sources(entries, key="url", option="data.shards")
    except ValueError as e:
        raise ShardError(str(e)) from None
    if len(normal) == 1 and not entries[0].get("name"):
        normal[0]["name"] = "shards"
    return [
        ShardSource(s["url"].rstrip("/"), s["name"], s["weight"], endpoint_url, cache_dir) for s in normal
    ]
