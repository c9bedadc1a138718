"""Train and validation datasets and loaders over manifests.

:class:`VocoderData` is plain Python (``data/`` does not depend on Lightning) and implements
:class:`vocoder_train.data.contract.TrainingData`;
:class:`vocoder_train.training.datamodule.VocoderDataModule` hands its loaders to the Trainer. The
config builds it with :meth:`VocoderData.from_config`, which maps the flat ``data.<key>`` settings onto
the option objects of :mod:`vocoder_train.data.options`.

Three options change what a training item is:

- ``mels: true`` reads (audio, teacher-forced mel) pairs and ``features: true`` (audio, precomputed
  features) pairs (:mod:`vocoder_train.data.pair_dataset`): batches carry ``features`` (B, C, L)
  that the module synthesizes from. Gain and augmentation are off for pairs (the features encode
  the audio's level).
- ``sources: [{name, manifest, weight}, ...]`` instead of ``train`` mixes several corpora by
  weight (:mod:`vocoder_train.data.mixing`); :meth:`VocoderData.source_names` names the
  corpus of each item loaded, which :class:`vocoder_train.training.callbacks.DataHealth` counts.
- ``shards: DIR | s3://... | [{name, url, weight}, ...]`` instead of ``train`` streams corpora that
  ``vocoder-prepare --shards`` wrote (:mod:`vocoder_train.data.shards_read`); ``val`` may be shards too.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from torch.utils.data import DataLoader

from vocoder_train.data.dataset import AudioDataset
from vocoder_train.data.manifest import ManifestError, read_manifest
from vocoder_train.data.mixing import WeightedResumableSampler, normalize_sources
from vocoder_train.data.options import Crops, FeaturePairs, Loaders, Loading, MelPairs, Mixing, Shards
from vocoder_train.data.pair_dataset import (
    FeaturePairDataset,
    MelPairDataset,
    PairMismatchError,
    load_features,
    read_pair_manifest,
)
from vocoder_train.data.pair_kinds import FEATURES, MEL
from vocoder_train.data.sampler import EvalSampler, ResumableSampler
from vocoder_train.data.shards_read import (
    ShardAudioDataset,
    ShardSampler,
    is_shard_location,
    open_sources,
)
from vocoder_train.io.signals import ignore_stop_signals

log = logging.getLogger(__name__)

# The data.<key> settings: these five, then every field of an option object (named as its key).
_OPTIONS = (Loading, Crops, Loaders, MelPairs, FeaturePairs, Mixing, Shards)
CONFIG_KEYS = tuple(
    dict.fromkeys(
        ("train", "val", "mels", "features", "max_val_files", *(f.name for o in _OPTIONS for f in fields(o)))
    )
)
_UNSET = (None, "???", "")


def _unknown_keys(keys, where: str) -> list[str]:
    """One line per key of ``keys`` that is not a data setting (Hydra's ``_target_`` etc. pass)."""
    return [
        f"{where}.{k}: unknown key (known: {', '.join(CONFIG_KEYS)}); remove or respell it"
        for k in keys
        if k not in CONFIG_KEYS and not (k.startswith("_") and k.endswith("_"))
    ]


def _select(node, key: str):
    """The value at dotted ``key`` of ``node``; None where absent, missing or unresolved (an interpolation
    that fails is reported where it is written)."""
    try:
        return OmegaConf.select(node, key, default=None)
    except Exception:  # noqa: BLE001
        return None


def _setting(key: str, name: str, value) -> str:
    return f"{key}.{name} is not set" if value is None else f"{key}.{name}={value!r}"


def _feature_problems(get, key: str) -> list[str]:
    """The frame rate and channels of feature pairs, and the hop that the frame rate gives."""
    from vocoder_train.dsp import frame_hop

    p: list[str] = []
    rate, channels, hop, sr = (get(k) for k in ("frame_rate", "channels", "hop_length", "sample_rate"))
    if isinstance(rate, bool) or not isinstance(rate, int | float) or rate <= 0:
        p.append(
            f"{_setting(key, 'frame_rate', rate)}: give the frame rate in Hz of the feature files "
            "(vocoder-prepare --frame-rate; the manifests record it)"
        )
    elif isinstance(sr, int) and isinstance(hop, int):  # an unresolved hop is reported where it is written
        try:
            want = frame_hop(sr, rate)
        except ValueError as e:
            p.append(f"{key}.frame_rate={rate:g}: {e}")
        else:
            if want != hop:
                p.append(
                    f"{key}.frame_rate={rate:g} Hz is a hop of {want} samples at {key}.sample_rate={sr}, but "
                    f"{key}.hop_length={hop}: set audio.hop_length={want} (experiment=features derives it "
                    "from data.frame_rate)"
                )
    if isinstance(channels, bool) or not isinstance(channels, int) or channels <= 0:
        p.append(
            f"{_setting(key, 'channels', channels)}: give the channel count C of the (C, frames) feature "
            "files"
        )
    return p


def _feature_manifest_problems(first: dict, manifest: str, get, key: str) -> list[str]:
    """``data.frame_rate`` and ``data.channels`` against the first entry of a feature-pair manifest."""
    p: list[str] = []
    rate, channels = get("frame_rate"), get("channels")
    stored = first.get("frame_rate")
    if isinstance(rate, int | float) and isinstance(stored, int | float) and abs(stored - rate) > 1e-9 * rate:
        p.append(f"{key}.frame_rate={rate:g}, but {manifest} was prepared with --frame-rate {stored:g}")
    if isinstance(channels, int) and not isinstance(channels, bool):
        try:
            load_features(
                first[FEATURES.key], channels, mmap=True, kind=FEATURES, expected=f"{key}.channels is"
            )
        except PairMismatchError as e:  # a missing or unreadable file is skipped when training reaches it
            if e.reason == FEATURES.reasons[2]:
                p.append(f"{e} (the first file of {key}.val)")
    return p


def _shard_problems(shards, train, key: str) -> list[str]:
    """``data.shards`` entries: set alone (not with ``train``), local folders written by vocoder-prepare."""
    p = []
    if train not in _UNSET:
        p.append(f"{key}.shards and {key}.train are both set: give one ({key}.train=null to stream shards)")
    entries = [shards] if isinstance(shards, str) else list(shards)
    for i, src in enumerate(entries):
        url = src if isinstance(src, str) else src.get("url") if hasattr(src, "get") else None
        where = f"{key}.shards" if isinstance(shards, str) else f"{key}.shards[{i}].url"
        if not url:
            p.append(f"{where} is not set: give a vocoder-prepare --shards OUT/train folder or s3:// URL")
        elif not str(url).startswith("s3://") and not is_shard_location(str(url)):
            p.append(
                f"{where}={url}: no shards here (no index.json); give the OUT/train folder of "
                "vocoder-prepare --shards"
            )
    return p


class VocoderData:
    """Train/val datasets and loaders (:class:`~vocoder_train.data.contract.TrainingData`).

    Args:
        train, val: manifest (JSONL from ``vocoder-prepare``), filelist or folder; ``train`` None with
            ``mixing``.
        loading (Loading): decoding and resampling.
        crops (Crops): segment lengths, gains and augmentation.
        loaders (Loaders | None): batch sizes (per device), workers, seed; None: the defaults.
        mels (MelPairs | None): train and validate on (audio, precomputed mel) pair manifests (entries
            with "mel").
        features (FeaturePairs | None): train and validate on (audio, precomputed features) pair
            manifests (entries with "features").
        mixing (Mixing | None): corpora mixed by weight instead of ``train``.
        max_val_files (int | None): use only the first N validation files.
        shards (Shards | None): sharded corpora streamed instead of ``train``.
    """

    def __init__(
        self,
        train: str | None,
        val: str,
        loading: Loading,
        crops: Crops,
        loaders: Loaders | None = None,
        mels: MelPairs | None = None,
        mixing: Mixing | None = None,
        max_val_files: int | None = None,
        features: FeaturePairs | None = None,
        shards: Shards | None = None,
    ):
        if shards and (train or mixing or mels or features):
            raise ValueError(
                "data.shards is set with data.train, data.sources, data.mels or data.features: shards hold "
                "audio only and replace data.train (data=shards sets data.train=null)"
            )
        if mixing and train:
            raise ValueError(
                "data.sources and data.train are both set: give one (set data.train=null to mix sources)"
            )
        if not mixing and not train and not shards:
            raise ValueError("data.train is not set: point it at a manifest, or give data.sources")
        if mels and features:
            raise ValueError(
                "data.mels and data.features are both true: give one (data=mel_pairs or data=feature_pairs)"
            )
        self.train_source, self.val_source = train, val
        self.loading, self.crops, self.loaders = loading, crops, loaders or Loaders()
        self.mels, self.features, self.mixing, self.shards = mels, features, mixing, shards
        self.sources = normalize_sources(mixing.sources) if mixing else None
        self.max_val_files = max_val_files
        pairs = mels or features
        if pairs:
            for key in ("segment_length", "val_segment_length"):
                n = getattr(crops, key)
                if n % pairs.hop_length:
                    raise ValueError(
                        f"data.{key}={n} is not a multiple of data.hop_length={pairs.hop_length}"
                    )
            if crops.augment is not None:
                kind = self.pair_kind
                log.warning(
                    "data.augment is ignored with %s: the target audio must match its %s",
                    kind.flag,
                    kind.item,
                )
        self.train_set: AudioDataset | None = None
        self.val_set: AudioDataset | None = None
        self._source_sizes: list[int] = []

    # -- from the config -------------------------------------------------------------------

    @property
    def pair_kind(self):
        """What the pair manifests pair with the audio (:data:`~vocoder_train.data.pair_dataset.MEL` or
        :data:`~vocoder_train.data.pair_dataset.FEATURES`), None without pairs."""
        return MEL if self.mels else FEATURES if self.features else None

    @classmethod
    def from_config(
        cls,
        train: str | None,
        val: str,
        mels: bool = False,
        max_val_files: int | None = None,
        features: bool = False,
        **keys,
    ) -> VocoderData:
        """From the flat ``data.<key>`` settings (configs/data/default.yaml): each option object takes
        the keys named as its fields; ``mels: true`` / ``features: true`` turn pairs on, ``sources``
        turns mixing on.

        Raises:
            ValueError: a key that no option object has, named with the known ones.
        """
        unknown = _unknown_keys(keys, "data")
        if unknown:
            raise ValueError("; ".join(unknown))

        def take(options):
            return options(**{f.name: keys[f.name] for f in fields(options) if f.name in keys})

        return cls(
            train,
            val,
            loading=take(Loading),
            crops=take(Crops),
            loaders=take(Loaders),
            mels=take(MelPairs) if mels else None,
            mixing=take(Mixing) if keys.get("sources") else None,
            max_val_files=max_val_files,
            features=take(FeaturePairs) if features else None,
            shards=take(Shards) if keys.get("shards") else None,
        )

    @classmethod
    def config_problems(cls, node: DictConfig, key: str, cfg: DictConfig) -> list[str]:
        """One line per problem with ``node`` (the config node at dotted location ``key``, e.g. "data"),
        given the whole run config ``cfg``: manifests that are not there, an empty validation set,
        mixed sources, pairs that do not fit the generator or their manifests, batch sizes."""

        def get(name: str):
            return _select(node, name)

        p = _unknown_keys(node.keys(), key)
        sources = get("sources")
        if sources and get("train") not in _UNSET:
            p.append(
                f"{key}.sources and {key}.train are both set: give one ({key}.train=null to mix sources)"
            )
        for i, src in enumerate(sources or []):
            manifest, weight = (
                (src.get("manifest"), src.get("weight", 1.0)) if hasattr(src, "get") else (None, None)
            )
            if not manifest or not Path(str(manifest)).exists():
                p.append(f"{key}.sources[{i}].manifest={manifest}: no such file or folder")
            if not isinstance(weight, int | float) or weight <= 0:
                p.append(f"{key}.sources[{i}].weight={weight!r}: must be a number > 0")
        shards = get("shards")
        if shards:
            p += _shard_problems(shards, get("train"), key)
        for name in ("val",) if sources or shards else ("train", "val"):
            val = get(name)
            if val in _UNSET:
                p.append(
                    f"{key}.{name} is not set: point it at a manifest from vocoder-prepare, a filelist or a "
                    "folder"
                )
            elif not str(val).startswith("s3://") and not Path(str(val)).exists():
                p.append(f"{key}.{name}={val}: no such file or folder")
        if get("mels") and get("features"):
            p.append(
                f"{key}.mels and {key}.features are both true: give one (data=mel_pairs or "
                "data=feature_pairs)"
            )
        kind = MEL if get("mels") else FEATURES if get("features") else None
        if kind is not None:
            hop = get("hop_length")
            # at audio.hop_length, the audio node's check reports audio.segment_length and val_segment_length
            audio_hop = hop == _select(cfg, "audio.hop_length")
            for name in ("segment_length", "val_segment_length"):
                n = get(name)
                if audio_hop and (name == "val_segment_length" or n == _select(cfg, "audio.segment_length")):
                    continue
                if isinstance(n, int) and isinstance(hop, int) and n % hop:
                    p.append(
                        f"{key}.{name}={n} is not a multiple of {key}.hop_length={hop} ({kind.name} are cut "
                        "on frames)"
                    )
            size = get(kind.symbol)
            channels = _select(cfg, "model.generator.backbone.input_channels")
            if size and channels and size != channels:
                p.append(f"{key}.{kind.symbol}={size} != model.generator.backbone.input_channels={channels}")
        if kind is FEATURES:
            p += _feature_problems(get, key)
        val = get("val")
        if val not in _UNSET and Path(str(val)).exists() and not is_shard_location(str(val)):
            try:
                if kind is FEATURES:  # names the features; data.channels and frame_rate fit them
                    p += _feature_manifest_problems(read_pair_manifest(str(val), kind)[0], str(val), get, key)
                else:
                    read_manifest(str(val))
            except ManifestError as e:
                if "empty" in str(e) or "no audio files" in str(e):
                    p.append(
                        f"{key}.val={val} is empty: no validation files; rerun vocoder-prepare with "
                        f"--val-fraction or --val-list, or point {key}.val at a filelist or folder of "
                        "held-out audio"
                    )
                else:
                    p.append(f"{key}.val={val}: {e}")
        for name in ("batch_size", "val_batch_size"):
            val = get(name)
            if not isinstance(val, int) or val <= 0:
                p.append(f"{key}.{name}={val!r}: must be a positive integer (per device)")
        return p

    # -- datasets --------------------------------------------------------------------------

    def _read(self, source: str) -> list[dict]:
        kind = self.pair_kind
        return read_pair_manifest(source, kind) if kind else read_manifest(source)

    def _dataset(self, items: list[dict], train: bool) -> AudioDataset:
        crops, loading = self.crops, self.loading
        seg = crops.segment_length if train else crops.val_segment_length
        pairs = self.mels or self.features
        if pairs:
            common = dict(
                train=train,
                max_frame_mismatch=pairs.max_frame_mismatch,
                resample_quality=loading.resample_quality,
                cache_audio=loading.cache_audio and train,
            )
            frames, hop = seg // pairs.hop_length, pairs.hop_length
            if self.features:
                return FeaturePairDataset(items, loading.sample_rate, frames, hop, pairs.channels, **common)
            return MelPairDataset(
                items,
                loading.sample_rate,
                frames,
                hop,
                pairs.n_mels,
                n_fft=pairs.n_fft,
                padding=pairs.mel_padding,
                **common,
            )
        return AudioDataset(
            items,
            loading.sample_rate,
            seg,
            partial_reads=loading.partial_reads,
            cache_audio=loading.cache_audio and train,
            **self._crop_options(train),
        )

    def _crop_options(self, train: bool) -> dict:
        # gain_db and augment apply to training items, val_gain_db to validation ones
        crops = self.crops
        return dict(
            train=train,
            gain_db=crops.gain_db,
            val_gain_db=crops.val_gain_db,
            augment=crops.augment,
            resample_quality=self.loading.resample_quality,
        )

    def _shard_dataset(self, location, train: bool, limit: int | None = None) -> ShardAudioDataset:
        opts = self.shards
        endpoint, cache = (opts.s3_endpoint, opts.shard_cache) if opts else (None, None)
        sources = open_sources(location, endpoint, cache)
        seg = self.crops.segment_length if train else self.crops.val_segment_length
        return ShardAudioDataset(
            sources, self.loading.sample_rate, seg, limit=limit, **self._crop_options(train)
        )

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is None and stage in (None, "fit"):
            if self.shards:
                self.train_set = self._shard_dataset(self.shards.shards, train=True)
                self._shard_names()
            elif self.sources:
                per_source = [self._read(s["manifest"]) for s in self.sources]
                self._source_sizes = [len(x) for x in per_source]
                self.train_set = self._dataset([it for part in per_source for it in part], train=True)
            else:
                self.train_set = self._dataset(self._read(self.train_source), train=True)
        if self.val_set is None and is_shard_location(self.val_source):
            self.val_set = self._shard_dataset(str(self.val_source), train=False, limit=self.max_val_files)
        elif self.val_set is None:
            self.val_set = self._dataset(
                self._read(self.val_source)[: self.max_val_files or None], train=False
            )

    def _shard_names(self) -> None:
        """Several sharded sources are named by :meth:`source_names`, as mixed manifests are."""
        items = self.train_set.items
        if len(items.sources) > 1:
            self.sources = [dict(name=src.name, url=src.url, weight=src.weight) for src in items.sources]
            self._source_sizes = list(items.sizes)

    # -- loaders ---------------------------------------------------------------------------

    def _sampler(self, dataset: AudioDataset, train: bool):
        if not train:
            return EvalSampler(len(dataset))
        if self.shards:
            sources = dataset.items.sources
            return ShardSampler(
                [src.chunk_sizes() for src in sources],
                [src.weight for src in sources] if len(sources) > 1 else None,
                seed=self.loaders.seed,
                epoch_size=self.shards.epoch_size,
                batch_size=self.loaders.batch_size,
                num_workers=self.loaders.num_workers,
            )
        if self.sources:
            weights = [s["weight"] for s in self.sources]
            return WeightedResumableSampler(
                self._source_sizes, weights, seed=self.loaders.seed, epoch_size=self.mixing.epoch_size
            )
        return ResumableSampler(len(dataset), seed=self.loaders.seed, shuffle=True)

    def _loader(self, dataset: AudioDataset, batch_size: int, train: bool, skip_batches: int) -> DataLoader:
        opts = self.loaders
        pin = torch.cuda.is_available() if opts.pin_memory is None else opts.pin_memory
        sampler = self._sampler(dataset, train)
        drop_last = train and len(sampler) >= batch_size  # never drop this rank's only batch
        if skip_batches:
            per_epoch = len(sampler) // batch_size if drop_last else -(-len(sampler) // batch_size)
            sampler.skip_next(skip_batches % max(1, per_epoch) * batch_size)
        return DataLoader(
            dataset,
            batch_size=batch_size,
            sampler=sampler,
            drop_last=drop_last,
            num_workers=opts.num_workers,
            persistent_workers=opts.persistent_workers and opts.num_workers > 0,
            pin_memory=pin,
            worker_init_fn=ignore_stop_signals,  # the training process decides when to stop
        )

    def train_dataloader(self, skip_batches: int = 0) -> DataLoader:
        """The training loader; ``skip_batches``: batches of the current epoch already trained on
        (resuming mid-epoch), whose items the sampler skips once."""
        assert self.train_set is not None, "setup('fit') first"
        return self._loader(self.train_set, self.loaders.batch_size, train=True, skip_batches=skip_batches)

    def val_dataloader(self) -> DataLoader:
        assert self.val_set is not None, "setup() first"
        return self._loader(self.val_set, self.loaders.val_batch_size, train=False, skip_batches=0)

    def source_names(self, index: torch.Tensor | np.ndarray | Sequence[int]) -> list[str]:
        """The ``data.sources`` name of each training item index; empty without sources."""
        if not self.sources:
            return []
        offsets = np.cumsum([0] + self._source_sizes[:-1])
        which = offsets.searchsorted(np.asarray(torch.as_tensor(index).cpu()), side="right") - 1
        return [self.sources[s]["name"] for s in which.tolist()]
