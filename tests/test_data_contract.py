"""The data side's contract: the config's flat keys onto option objects, the node's own config rules,
and the Lightning side's check of :class:`vocoder_train.data.contract.TrainingData` (a class from outside
that implements it trains: tests/test_extension.py)."""

from __future__ import annotations

import pytest
from hydra.utils import instantiate

from vocoder_train.data.contract import TrainingData
from vocoder_train.data.loaders import VocoderData
from vocoder_train.data.options import MelPairs


def test_the_config_builds_option_objects_from_its_flat_keys(tiny_cfg):
    cfg = tiny_cfg("data.batch_size=3", "data.gain_db=[-5,-2]")
    data = instantiate(cfg.data, _convert_="all")
    assert isinstance(data, VocoderData) and isinstance(data, TrainingData)
    assert data.loaders.batch_size == 3 and data.loaders.num_workers == 0
    assert data.crops.gain_db == (-5, -2) and data.crops.segment_length == cfg.audio.segment_length
    assert data.loading.sample_rate == 16000 and data.mels is None and data.mixing is None
    pairs = instantiate(tiny_cfg("data.mels=true").data, _convert_="all")
    assert pairs.mels == MelPairs(hop_length=64, n_fft=256, n_mels=32)


def test_an_unknown_data_key_is_named_with_the_known_ones(tiny_cfg):
    cfg = tiny_cfg("+data.batchsize=3")
    with pytest.raises(Exception, match=r"data\.batchsize: unknown key \(known: train, val, .*batch_size"):
        instantiate(cfg.data, _convert_="all")
    problems = VocoderData.config_problems(cfg.data, "data", cfg)
    assert len(problems) == 1 and problems[0].startswith("data.batchsize: unknown key")


def test_config_problems_name_the_nodes_own_keys_under_its_location(tiny_cfg):
    cfg = tiny_cfg(
        "data.batch_size=0",
        "data.mels=true",
        "data.segment_length=4000",
        "model.generator.backbone.input_channels=16",
    )
    assert VocoderData.config_problems(cfg.data, "data", cfg) == [
        "data.segment_length=4000 is not a multiple of data.hop_length=64 (mel pairs are cut on frames)",
        "data.n_mels=32 != model.generator.backbone.input_channels=16",
        "data.batch_size=0: must be a positive integer (per device)",
    ]
    assert VocoderData.config_problems(cfg.data, "other", cfg)[-1].startswith("other.batch_size=0")
    assert VocoderData.config_problems(tiny_cfg().data, "data", tiny_cfg()) == []


def test_the_lightning_side_names_what_a_data_object_lacks():
    from vocoder_train.training.datamodule import VocoderDataModule

    class Half:
        def setup(self, stage=None): ...

        def train_dataloader(self, skip_batches=0): ...

    with pytest.raises(TypeError, match="has no source_names, val_dataloader: training needs .*TrainingData"):
        VocoderDataModule(Half())
