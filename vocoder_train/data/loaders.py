"""Train and validation datasets and loaders over manifests.

:class:`VocoderData` is plain Python (``data/`` does not depend on Lightning) and implements
:class:`vocoder_train.data.contract.TrainingData`;
:class:`vocoder_train.training.datamodule.VocoderDataModule` hands its loaders to the Trainer. The
config builds it with :meth:`VocoderData.from_config`, which maps the flat ``data.<key>`` settings onto
the option objects of :mod:`vocoder_train.data.options`.

Two options change what a training item is:

- ``mels: true`` reads (audio, teacher-forced mel) pairs (:mod:`vocoder_train.data.mel_dataset`):
  batches carry a ``mel`` (B, n_mels, L) that the module synthesizes from. Gain and augmentation
  are off for pairs (the mel encodes the audio's level).
- ``sources: [{name, manifest, weight}, ...]`` instead of ``train`` mixes several corpora by
  weight (:mod:`vocoder_train.data.mixing`); :meth:`VocoderData.source_names` names the
  corpus of each item loaded, which :class:`vocoder_train.training.callbacks.DataHealth` counts.
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
from vocoder_train.data.mel_dataset import MelPairDataset, read_pair_manifest
from vocoder_train.data.mixing import WeightedResumableSampler, normalize_sources
from vocoder_train.data.options import Crops, Loaders, Loading, MelPairs, Mixing
from vocoder_train.data.sampler import EvalSampler, ResumableSampler
from vocoder_train.io.signals import ignore_stop_signals

log = logging.getLogger(__name__)

# The data.<key> settings: these four, then every field of an option object (named as its key).
_OPTIONS = (Loading, Crops, Loaders, MelPairs, Mixing)
CONFIG_KEYS = ("train", "val", "mels", "max_val_files", *(f.name for o in _OPTIONS for f in fields(o)))
_UNSET = (None, "???", "")


def _unknown_keys(keys, where: str) -> list[str]:
    """One line per key of ``keys`` that is not a data setting (Hydra's ``_target_`` etc. pass)."""
    return [
        f"{where}.{k}: unknown key (known: {', '.join(CONFIG_KEYS)}); remove or respell it"
        for k in keys
        if k not in CONFIG_KEYS and not (k.startswith("_") and k.endswith("_"))
    ]


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
        mixing (Mixing | None): corpora mixed by weight instead of ``train``.
        max_val_files (int | None): use only the first N validation files.
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
    ):
        if mixing and train:
            raise ValueError(
                "data.sources and data.train are both set: give one (set data.train=null to mix sources)"
            )
        if not mixing and not train:
            raise ValueError("data.train is not set: point it at a manifest, or give data.sources")
        self.train_source, self.val_source = train, val
        self.loading, self.crops, self.loaders = loading, crops, loaders or Loaders()
        self.mels, self.mixing = mels, mixing
        self.sources = normalize_sources(mixing.sources) if mixing else None
        self.max_val_files = max_val_files
        if mels:
            for key in ("segment_length", "val_segment_length"):
                n = getattr(crops, key)
                if n % mels.hop_length:
                    raise ValueError(f"data.{key}={n} is not a multiple of data.hop_length={mels.hop_length}")
            if crops.augment is not None:
                log.warning(
                    "data.augment is ignored with data.mels=true: the target audio must match its mel"
                )
        self.train_set: AudioDataset | None = None
        self.val_set: AudioDataset | None = None
        self._source_sizes: list[int] = []

    # -- from the config -------------------------------------------------------------------

    @classmethod
    def from_config(
        cls, train: str | None, val: str, mels: bool = False, max_val_files: int | None = None, **keys
    ) -> VocoderData:
        """From the flat ``data.<key>`` settings (configs/data/default.yaml): each option object takes
        the keys named as its fields; ``mels: true`` turns pairs on, ``sources`` turns mixing on.

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
        )

    @classmethod
    def config_problems(cls, node: DictConfig, key: str, cfg: DictConfig) -> list[str]:
        """One line per problem with ``node`` (the config node at dotted location ``key``, e.g. "data"),
        given the whole run config ``cfg``: manifests that are not there, an empty validation set,
        mixed sources, mel pairs that do not fit the generator, batch sizes."""

        def get(name: str):
            return OmegaConf.select(node, name, default=None)

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
        for name in ("val",) if sources else ("train", "val"):
            val = get(name)
            if val in _UNSET:
                p.append(
                    f"{key}.{name} is not set: point it at a manifest from vocoder-prepare, a filelist or a "
                    "folder"
                )
            elif not Path(str(val)).exists():
                p.append(f"{key}.{name}={val}: no such file or folder")
        if get("mels"):
            hop = get("hop_length")
            for name in ("segment_length", "val_segment_length"):
                n = get(name)
                if isinstance(n, int) and isinstance(hop, int) and n % hop:
                    p.append(
                        f"{key}.{name}={n} is not a multiple of {key}.hop_length={hop} (mel pairs are cut on "
                        "frames)"
                    )
            bins = get("n_mels")
            channels = OmegaConf.select(cfg, "model.generator.backbone.input_channels", default=None)
            if bins and channels and bins != channels:
                p.append(f"{key}.n_mels={bins} != model.generator.backbone.input_channels={channels}")
        val = get("val")
        if val not in _UNSET and Path(str(val)).exists():
            try:
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
        return read_pair_manifest(source) if self.mels else read_manifest(source)

    def _dataset(self, items: list[dict], train: bool) -> AudioDataset:
        crops, loading = self.crops, self.loading
        seg = crops.segment_length if train else crops.val_segment_length
        if self.mels:
            return MelPairDataset(
                items,
                loading.sample_rate,
                seg // self.mels.hop_length,
                self.mels.hop_length,
                self.mels.n_mels,
                n_fft=self.mels.n_fft,
                padding=self.mels.mel_padding,
                train=train,
                max_frame_mismatch=self.mels.max_frame_mismatch,
                resample_quality=loading.resample_quality,
                cache_audio=loading.cache_audio and train,
            )
        return AudioDataset(  # gain_db and augment apply to training items, val_gain_db to validation ones
            items,
            loading.sample_rate,
            seg,
            train=train,
            gain_db=crops.gain_db,
            val_gain_db=crops.val_gain_db,
            augment=crops.augment,
            resample_quality=loading.resample_quality,
            partial_reads=loading.partial_reads,
            cache_audio=loading.cache_audio and train,
        )

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is None and stage in (None, "fit"):
            if self.sources:
                per_source = [self._read(s["manifest"]) for s in self.sources]
                self._source_sizes = [len(x) for x in per_source]
                items = [it for part in per_source for it in part]
            else:
                items = self._read(self.train_source)
            self.train_set = self._dataset(items, train=True)
        if self.val_set is None:
            self.val_set = self._dataset(
                self._read(self.val_source)[: self.max_val_files or None], train=False
            )

    # -- loaders ---------------------------------------------------------------------------

    def _sampler(self, dataset: AudioDataset, train: bool):
        if not train:
            return EvalSampler(len(dataset))
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
