"""Decoders of transformers codecs (EncodecModel, DacModel, MimiModel): tiny random codecs saved to
tmp_path, trained, resumed, exported and decoded from audio and from codes."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from tests.helpers.hf_codecs import TINY, codec_overrides, save_tiny_codec

FAMILIES = sorted(TINY)
RATES = {"encodec": 24000, "dac": 44100, "mimi": 24000}
COUNTS = {"encodec": [3, 6], "dac": [1, 3], "mimi": [2, 4]}


@pytest.mark.parametrize("family", FAMILIES)
def test_code_embeddings_start_at_the_codecs_latents_and_a_stored_config_rebuilds_it(tmp_path, family):
    from vocoder_train.models.hf_codec import TransformersCodecFeatures

    path = save_tiny_codec(tmp_path / family, family)
    counts, rate = COUNTS[family], RATES[family]
    latents = TransformersCodecFeatures(str(path), codebooks=counts, sample_rate=rate)
    embeddings = TransformersCodecFeatures(
        str(path), codebooks=counts, features="embeddings", sample_rate=rate
    )
    assert embeddings.code_embeddings.requires_grad and not any(p.requires_grad for p in latents.parameters())
    audio = 0.1 * torch.randn(2, 6 * latents.hop_length, generator=torch.Generator().manual_seed(0))
    for i, n in enumerate(counts):
        codes = latents.codes(audio, i)
        assert codes.shape == (n, 2, 6) and codes.dtype == torch.long
        want = latents.codes_to_features(codes)
        assert want.abs().max() > 0
        torch.testing.assert_close(embeddings.codes_to_features(codes), want, atol=1e-5, rtol=1e-5)
        assert latents.decode_codes(codes).shape == (2, 6 * latents.hop_length)  # the codec's own decoder
    # a checkpoint keeps the codec's config: the front end is built without the folder
    kept = latents.stored_init_args()
    assert kept["path"] is None and kept["codec_config"]["model_type"] == family
    stored = TransformersCodecFeatures(**kept, codebooks=counts, sample_rate=rate)
    stored.load_state_dict(latents.state_dict())
    bid = torch.tensor([len(counts) - 1])
    torch.testing.assert_close(stored(audio, bandwidth_id=bid), latents(audio, bandwidth_id=bid))


def _compose(tmp_path, tiny_corpus, family, *overrides):
    from tests.helpers.codec import tiny_run
    from tests.helpers.training import compose_train

    base = codec_overrides(family, save_tiny_codec(tmp_path / "codec", family)) + tiny_run(tiny_corpus)
    return compose_train([*base, "trainer.val_check_interval=1", *overrides])


@pytest.mark.slow
@pytest.mark.parametrize("family", FAMILIES)
def test_trains_resumes_exports_onnx_and_synthesizes_from_audio_and_codes(
    tmp_path, tiny_corpus, family, capsys
):
    import csv
    from pathlib import Path

    from vocoder_train.cli.synthesize import main as synthesize
    from vocoder_train.io.audio import save_audio
    from vocoder_train.io.checkpoint import load_checkpoint
    from vocoder_train.models.export import export
    from vocoder_train.models.vocoder import load_vocoder
    from vocoder_train.training.run import train

    cfg = _compose(tmp_path, tiny_corpus, family, "trainer.max_steps=2")
    train(cfg)
    run = Path(cfg.paths.output_dir)
    ckpt = run / "checkpoints" / "last.ckpt"
    rows = list(csv.DictReader(open(next(run.glob("csv/version_*/metrics.csv")))))
    logged = {k for r in rows for k, v in r.items() if v}
    assert sum(k.startswith("val/mel_l1@") for k in logged) == 2 and "val/mel_l1" in logged
    train(_compose(tmp_path, tiny_corpus, family, "trainer.max_steps=4"))  # resume=auto
    stored = load_checkpoint(ckpt)
    assert stored["global_step"] == 4
    fe_cfg = stored["vocoder_train"]["config"]["model"]["generator"]["feature_extractor"]
    assert fe_cfg["codec_config"]["model_type"] == family  # loads where the codec folder is absent

    shutil.rmtree(tmp_path / "codec")  # everything below reads the codec from the checkpoint
    assert export(ckpt, tmp_path / "st", "safetensors").max_abs_diff <= 1e-5
    assert export(ckpt, tmp_path / "vocos", "vocos").max_abs_diff <= 1e-5  # vocos.Vocos.from_hparams loads it
    result = export(ckpt, tmp_path / "onnx", "onnx")  # checked against the training model at every id
    assert result.max_abs_diff <= 1e-4 and "codec.safetensors" in result.files

    eager, graph = load_vocoder(ckpt, engine="eager"), load_vocoder(tmp_path / "onnx")
    assert graph.session.get_session_options().intra_op_num_threads == torch.get_num_threads()
    kbps = eager.bandwidths[0]
    audio = 0.1 * torch.randn(1, 8 * eager.hop_length, generator=torch.Generator().manual_seed(1))
    for v in (eager, graph):
        v.set_bandwidth(kbps)
    codes = eager.feature_extractor.codes(audio, 0)[:, 0]  # (codebooks, frames)
    got, want = (v.decode(v.codes_to_features(codes)) for v in (graph, eager))
    assert (got - want).abs().max() <= 1e-4
    assert (graph.copy_synthesis(audio) - eager.copy_synthesis(audio)).abs().max() <= 1e-4

    # vocoder-synthesize from the ONNX export: audio (encoded on the fly) and a codes .npy
    save_audio(tmp_path / "in" / "a.wav", audio[0], eager.sample_rate)
    np.save(tmp_path / "in" / "codes.npy", codes.numpy())
    args = [
        str(tmp_path / "onnx"),
        str(tmp_path / "in"),
        "-o",
        str(tmp_path / "out"),
        "--bandwidth",
        f"{kbps:.3g}",
        "--threads",
        "1",
    ]
    threads = torch.get_num_threads()
    try:
        assert synthesize(args) == 0, capsys.readouterr().err
    finally:
        torch.set_num_threads(threads)
    assert f"{codes.shape[0]} codebooks" in capsys.readouterr().out
    assert (tmp_path / "out" / "a.wav").is_file() and (tmp_path / "out" / "codes.wav").is_file()
    np.save(tmp_path / "in2.npy", torch.cat([codes, codes]).numpy())  # twice the bandwidth's codebooks
    wrong = [str(ckpt), str(tmp_path / "in2.npy"), "-o", str(tmp_path / "o2"), "--codebooks"]
    rc = synthesize([*wrong, str(codes.shape[0])])
    err = capsys.readouterr().err
    assert rc == 1 and f"takes {codes.shape[0]} codebooks" in err, err
    assert synthesize([*wrong, "99"]) == 1
    err = capsys.readouterr().err
    assert f"99 codebooks: the model decodes {', '.join(map(str, eager.codebook_counts))}" in err, err


def _hostile_folder(tmp_path):
    from tests.helpers.files import write_hostile_weights

    folder = save_tiny_codec(tmp_path / "hostile", "encodec")
    (folder / "model.safetensors").unlink()
    write_hostile_weights(folder / "pytorch_model.bin", tmp_path / "pwned")
    return folder


def _other_model(tmp_path):
    folder = tmp_path / "bert"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "bert", "hidden_size": 8}))
    (folder / "model.safetensors").write_bytes(b"")
    return folder


@pytest.mark.parametrize(
    "family, make, overrides, says",
    [
        (
            "encodec",
            _other_model,
            [],
            "a bert model, not a supported codec; supported: EncodecModel (encodec)",
        ),
        ("encodec", _hostile_folder, [], "refused: it contains objects other than tensors"),
        ("encodec", None, ["codec.path=/nowhere/mimi"], "codec.path=/nowhere/mimi: no such folder"),
        ("dac", None, ["audio.sample_rate=24000"], "86.1328 frames a second (512 samples at its 44100 Hz)"),
        (
            "mimi",
            None,
            ["model.generator.head.hop_length=320"],
            "head hop 320 x backbone.upsample 4 != the features' hop 960",
        ),
        ("mimi", None, ["model.generator.feature_extractor.codebooks=[2,9]"], "codebooks has 9"),
        (
            "mimi",
            None,
            ["model.generator.backbone.adanorm_num_embeddings=3"],
            "adanorm_num_embeddings=3: set",
        ),
    ],
)
def test_wrong_codecs_are_refused_before_any_work_with_one_line(
    tmp_path, tiny_corpus, family, make, overrides, says
):
    from vocoder_train.config.checks import ConfigError
    from vocoder_train.training.run import check_run_config

    extra = [f"codec.path={make(tmp_path)}"] if make else []
    cfg = _compose(tmp_path, tiny_corpus, family, *extra, *overrides)
    with pytest.raises(ConfigError) as e:
        check_run_config(cfg)
    assert says in str(e.value), str(e.value)
    assert not (tmp_path / "pwned").exists()  # the hostile pickle never ran


# the released models' configs (transformers' defaults, DAC's at 44.1 kHz as descript/dac_44khz)
RELEASED = {
    "codec_encodec_24khz": ("EncodecConfig", {}),
    "codec_dac_44khz": (
        "DacConfig",
        dict(sampling_rate=44100, downsampling_ratios=[2, 4, 8, 8], n_codebooks=9),
    ),
    "codec_mimi_24khz": ("MimiConfig", {}),
}


@pytest.mark.parametrize("experiment", sorted(RELEASED))
def test_each_recipe_fits_its_released_codec(tmp_path, tiny_corpus, experiment):
    """The recipes' numbers (rate, hop, latent width, codebook counts, upsampling) pass the checks against
    the config.json of the codec they are written for."""
    import transformers
    from safetensors.torch import save_file

    from tests.helpers.training import compose_train
    from vocoder_train.training.run import check_run_config

    config_class, args = RELEASED[experiment]
    getattr(transformers, config_class)(**args).save_pretrained(str(tmp_path / "codec"))
    save_file({}, str(tmp_path / "codec" / "model.safetensors"))  # the checks read config.json only
    cfg = compose_train(
        [
            f"experiment={experiment}",
            f"codec.path={tmp_path / 'codec'}",
            f"data.train={tiny_corpus['train']}",
            f"data.val={tiny_corpus['val']}",
        ]
    )
    check_run_config(cfg)
