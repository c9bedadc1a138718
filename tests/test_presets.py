"""Sample-rate presets (configs/preset) and the checks derived from the rate (config_checks)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
import torch
import yaml
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from vocoder_train.config import CONFIG_DIR
from vocoder_train.config.checks import ConfigError
from vocoder_train.io.checkpoint import load_checkpoint
from vocoder_train.losses.adversarial import Adversary
from vocoder_train.models.generator import build_generator, to_vocos_config
from vocoder_train.models.store import load_generator
from vocoder_train.training.run import check_run_config, train

PRESETS = sorted(p.stem for p in (Path(CONFIG_DIR) / "preset").glob("*.yaml"))
RATES = {"16k": 16000, "22k": 22050, "24k": 24000, "32k": 32000, "44k": 44100, "48k": 48000}
# Experiments that take their signal from a preset (the others pin audio.* for their own reasons:
# demo/cpu_budget/tiny are sized for a CPU, hifigan_compat_22k is HiFi-GAN's front end).
PRESET_EXPERIMENTS = [None, "vocos_mel_24khz", "finetune", "ljspeech_22k", "vctk_44k"]
DISCRIMINATORS = ["mpd_mrd", "mpd_mrd_small", "msstft", "mpd_msd", "mpd_cqtd"]
# The MRD / MS-STFT sizes of each preset: the 24 kHz ones (22k too), x0.75 at 16 kHz, x1.25 at 32 kHz and
# x2 at 44.1 and 48 kHz.
MSSTFT_24K = [[2048, 512, 2048], [1024, 256, 1024], [512, 128, 512], [256, 64, 256], [128, 32, 128]]
DISC_SIZES = {
    "16k": (
        [1536, 768, 384],
        [[1536, 384, 1536], [768, 192, 768], [384, 96, 384], [192, 48, 192], [96, 24, 96]],
    ),
    "22k": ([2048, 1024, 512], MSSTFT_24K),
    "24k": ([2048, 1024, 512], MSSTFT_24K),
    "32k": (
        [2560, 1280, 640],
        [[2560, 640, 2560], [1280, 320, 1280], [640, 160, 640], [320, 80, 320], [160, 40, 160]],
    ),
    "44k": (
        [4096, 2048, 1024],
        [[4096, 1024, 4096], [2048, 512, 2048], [1024, 256, 1024], [512, 128, 512], [256, 64, 256]],
    ),
}
DISC_SIZES["48k"] = DISC_SIZES["44k"]


def _compose(*overrides: str):
    with initialize_config_dir(CONFIG_DIR, version_base="1.3"):
        return compose("train", overrides=list(overrides))


def test_presets_exist():
    assert PRESETS == ["16k", "22k", "24k", "32k", "44k", "48k"]


@pytest.mark.parametrize("experiment", PRESET_EXPERIMENTS)
@pytest.mark.parametrize("preset", PRESETS)
def test_every_preset_composes_with_every_experiment(preset, experiment, tiny_corpus):
    cfg = _compose(
        *([f"experiment={experiment}"] if experiment else []),
        f"preset={preset}",
        f"data.train={tiny_corpus['train']}",
        f"data.val={tiny_corpus['val']}",
        "init.required=false",
    )  # the fine-tune experiments refuse to start without weights
    check_run_config(cfg)
    OmegaConf.resolve(cfg)
    a = cfg.audio
    assert a.sample_rate == RATES[preset]  # preset= on the command line wins over the experiment's
    assert a.segment_length % a.hop_length == 0 and cfg.data.val_segment_length % a.hop_length == 0
    assert (a.n_fft - a.hop_length) % 2 == 0 and a.n_fft >= 2 * a.hop_length
    fe = cfg.model.generator.feature_extractor
    assert fe.sample_rate == cfg.data.sample_rate == cfg.model.loss.mel.sample_rate == a.sample_rate
    for node in cfg.model.discriminator.values():
        assert "_target_" in node
        assert all(n <= a.segment_length for n in node.get("fft_sizes", []))


@pytest.mark.parametrize("disc", DISCRIMINATORS)
@pytest.mark.parametrize("preset", PRESETS)
def test_preset_fits_every_discriminator_config(preset, disc, tiny_corpus):
    cfg = _compose(
        f"preset={preset}",
        f"model/discriminator={disc}",
        f"data.train={tiny_corpus['train']}",
        f"data.val={tiny_corpus['val']}",
    )
    check_run_config(cfg)
    mrd = OmegaConf.select(cfg, "model.discriminator.mrd.fft_sizes")
    if mrd is not None:
        largest_ms = 1000 * max(mrd) / RATES[preset]
        assert 80 <= largest_ms <= 100, (preset, list(mrd))  # the 24 kHz design: 2048 samples = 85 ms


@pytest.mark.parametrize("preset", PRESETS)
def test_discriminator_sizes_follow_the_preset(preset):
    mrd, msstft = DISC_SIZES[preset]
    for disc in ("mpd_mrd", "mpd_mrd_small"):
        node = _compose(f"preset={preset}", f"model/discriminator={disc}").model.discriminator.mrd
        assert OmegaConf.to_container(node, resolve=True)["fft_sizes"] == mrd
    node = _compose(f"preset={preset}", "model/discriminator=msstft").model.discriminator.msstft
    assert OmegaConf.to_container(node, resolve=True)["resolutions"] == msstft


def test_a_scale_that_gives_fractional_sizes_is_refused():
    cfg = _compose("model/discriminator=msstft", "audio.disc_fft_scale=0.7")
    with pytest.raises(Exception, match=r"2048 x 0.7 = 1433.6\S* is not a whole number of samples"):
        Adversary.from_config(cfg.model.discriminator)


def test_preset_values():
    want = {
        "16k": (16000, 640, 160, 80, 10240, 32000),
        "22k": (22050, 1024, 256, 80, 16384, 44032),
        "24k": (24000, 1024, 256, 100, 16384, 48128),
        "32k": (32000, 1280, 320, 100, 20480, 64000),
        "44k": (44100, 2048, 512, 128, 32768, 88064),
        "48k": (
            48000,
            2048,
            512,
            128,
            32768,
            96768,
        ),  # the vocos maintainer's 48 kHz settings (vocos issue 3)
    }
    for preset, values in want.items():
        cfg = _compose(f"preset={preset}")
        a = cfg.audio
        assert (
            a.sample_rate,
            a.n_fft,
            a.hop_length,
            a.n_mels,
            a.segment_length,
            cfg.data.val_segment_length,
        ) == values
        assert a.segment_length // a.hop_length == 64  # the Vocos recipe's crop, in frames
    # no preset: train.yaml's defaults are the 24 kHz preset
    assert dict(_compose().audio) == dict(_compose("preset=24k").audio)


@pytest.mark.parametrize("preset", PRESETS)
@pytest.mark.parametrize("generator", ["vocos_base", "vocos_imdct", "vocos_hifigan_frontend"])
def test_generator_output_length_is_the_segment_length(preset, generator):
    """USERS.md row 4 ("348 vs 347 frames"): at every rate the frames and samples line up exactly."""
    cfg = _compose(
        f"preset={preset}",
        f"model/generator={generator}",
        "model.generator.backbone.dim=16",
        "model.generator.backbone.intermediate_dim=32",
        "model.generator.backbone.num_layers=1",
    )
    OmegaConf.resolve(cfg)
    gen = build_generator(cfg.model.generator).eval()
    seg, hop = cfg.audio.segment_length, cfg.audio.hop_length
    x = 0.1 * torch.randn(2, seg)
    with torch.no_grad():
        feats = gen.features(x)
        raw = gen.synthesize(feats)
        out = gen(x)
    fe = cfg.model.generator.feature_extractor
    if fe._target_.endswith("HifiganMelFeatures"):  # HiFi-GAN's reflect padding, center=False
        assert feats.shape[-1] == seg // hop
    else:
        assert fe.padding == "center" and feats.shape[-1] == seg // hop + 1
    assert feats.shape[1] == cfg.audio.n_mels
    assert raw.shape[-1] >= seg and raw.shape[-1] == feats.shape[-1] * hop
    assert out.shape == x.shape
    # the validation crop too
    val = cfg.data.val_segment_length
    with torch.no_grad():
        assert gen.synthesize(gen.features(torch.zeros(1, val))).shape[-1] >= val


@pytest.mark.parametrize("preset", PRESETS)
def test_discriminators_run_on_a_segment(preset):
    cfg = _compose(f"preset={preset}", "model/discriminator=mpd_mrd_small")
    OmegaConf.resolve(cfg)
    x = 0.1 * torch.randn(1, cfg.audio.segment_length)
    for name, disc in Adversary.from_config(cfg.model.discriminator).discriminators.items():
        with torch.no_grad():
            logits, fmaps = disc(x)
        assert logits and all(torch.isfinite(lg).all() for lg in logits), name


@pytest.mark.parametrize("preset", ["32k", "48k"])
def test_preset_trains_on_audio_at_its_rate(preset, make_corpus, tmp_path):
    """2 mel-only + 1 GAN iteration of a tiny generator on generated audio at the preset's rate, with
    the preset's discriminator sizes and validation crop (narrowed MPD / MRD)."""
    rate = RATES[preset]
    for split, n in (("train", 2), ("val", 1)):
        paths = make_corpus([(f"{split}{i}.wav", rate, 1.0 + 0.3 * i, 1) for i in range(n)], split)
        (tmp_path / f"{split}.txt").write_text("\n".join(map(str, paths)) + "\n")
    cfg = _compose(
        f"preset={preset}",
        "data=tiny",
        "model/generator=tiny",
        "model/discriminator=mpd_mrd_small",
        "trainer=tiny",
        "model.discriminator.mpd.periods=[2,3]",
        "model.discriminator.mpd.channels=[8,16,16]",
        "model.discriminator.mrd.channels=8",
        "data.batch_size=1",
        "data.val_batch_size=1",
        "trainer.max_steps=4",
        "model.optim.pretrain_mel_steps=2",
        "validation.metrics=[]",
        "callbacks.progress_bar=null",
        f"data.train={tmp_path / 'train.txt'}",
        f"data.val={tmp_path / 'val.txt'}",
        f"paths.runs_dir={tmp_path / 'runs'}",
    )
    metrics = train(cfg)
    assert metrics["val/mel_l1"] > 0 and "train/d_mrd" in metrics and "train/g_fm_mrd" in metrics
    ckpt = load_checkpoint(Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt")
    assert ckpt["global_step"] == 2 + 2 * 1
    assert ckpt["vocoder_train"]["config"]["audio"]["sample_rate"] == rate
    gen, sr = load_generator(Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt")
    with torch.no_grad():
        assert (
            sr == rate and gen(torch.zeros(1, 3 * cfg.audio.hop_length)).shape[-1] == 3 * cfg.audio.hop_length
        )


@pytest.mark.parametrize("overrides", [["experiment=vctk_44k"], ["experiment=vctk_44k", "preset=48k"]])
def test_high_rate_recipe_follows_the_vocos_maintainers_advice(overrides):
    """gemelo-ai/vocos issue 3: at 44.1/48 kHz, n_fft 2048, hop 512, 32768-sample crops, MRD weight 1.0
    (the default stays 0.1: docs/results/2026-11-28-mrd-weight.md)."""
    cfg = _compose(*overrides)
    a = cfg.audio
    assert (a.n_fft, a.hop_length, a.segment_length) == (2048, 512, 32768)
    assert dict(cfg.model.discriminator.mrd.weights) == {"d": 1.0, "g_adv": 1.0, "g_fm": 1.0}
    assert dict(_compose(*overrides[1:]).model.discriminator.mrd.weights) == {
        "d": 0.1,
        "g_adv": 0.1,
        "g_fm": 0.1,
    }


def test_exported_vocos_config_keeps_the_preset_rate(tmp_path):
    cfg = _compose("preset=44k")
    vc = to_vocos_config(cfg.model.generator, sample_rate=cfg.audio.sample_rate)
    assert vc["feature_extractor"]["init_args"]["sample_rate"] == 44100
    assert vc["head"]["init_args"]["n_fft"] == 2048 and vc["head"]["init_args"]["hop_length"] == 512


# -- each rule derived from the rate fires with its message ---------------------------------------


@pytest.mark.parametrize(
    "overrides, message",
    [
        # 48 kHz with a 10 ms hop and the 24 kHz n_fft: odd n_fft - hop, crop not a multiple of the hop
        (
            ["audio.sample_rate=48000", "audio.hop_length=441", "audio.n_fft=2048"],
            "model.generator.head: n_fft=2048 - hop_length=441 is odd",
        ),
        (
            ["audio.hop_length=441", "audio.n_fft=2048"],
            "audio.segment_length=4096 is not a multiple of audio.hop_length=441",
        ),
        (
            ["audio.hop_length=200", "audio.n_fft=300", "audio.segment_length=4000"],
            "audio.n_fft=300 < 2 * audio.hop_length=200",
        ),
        (["audio.segment_length=256"], "audio.segment_length=256 is only 4 frames of audio.hop_length=64"),
        (
            ["data.val_segment_length=4000"],
            "data.val_segment_length=4000 is not a multiple of audio.hop_length=64",
        ),
        (["data.val_segment_length=128"], "data.val_segment_length=128 is only 2 frames"),
        (["+model.loss.mel.f_max=9000"], "model.loss.mel.f_max=9000 > audio.sample_rate / 2 = 8000"),
        (
            [
                "model/generator=vocos_hifigan_frontend",
                "model.generator.backbone.dim=32",
                "model.generator.feature_extractor.fmax=11025",
            ],
            "model.generator.feature_extractor.fmax=11025 > audio.sample_rate / 2 = 8000",
        ),
        (
            ["model.generator.feature_extractor.sample_rate=24000"],
            "model.generator.feature_extractor.sample_rate=24000 != audio.sample_rate=16000",
        ),
        (["model.loss.mel.sample_rate=22050"], "model.loss.mel.sample_rate=22050 != audio.sample_rate=16000"),
        (["audio.n_mels=200"], "audio.n_mels=200 > n_fft // 2 + 1 = 129"),
        (
            ["model.discriminator.mrd.fft_sizes=[8192,128]"],
            "model.discriminator.mrd.fft_sizes has n_fft 8192 > audio.segment_length=4096",
        ),
        (
            ["model.discriminator.mpd.periods=[2,5000]"],
            "model.discriminator.mpd.periods has 5000 >= audio.segment_length=4096",
        ),
        (
            ["model/discriminator=msstft", "model.discriminator.msstft.resolutions=[[8192,2048,8192]]"],
            "model.discriminator.msstft.resolutions has n_fft 8192 > audio.segment_length=4096",
        ),
        (
            ["model/discriminator=cqtd", "model.discriminator.cqtd.hop_lengths=[100]"],
            "model.discriminator.cqtd.hop_lengths has 100, not divisible by 2^(n_octaves - 1) = 256",
        ),
        (
            ["+model.discriminator.mrd2.fft_sizes=[512]"],
            "model.discriminator.mrd2={'fft_sizes': [512]}: has no _target_",
        ),
        (["model.generator.head.hop_length=128"], "head hop 128 != feature_extractor.hop_length=64"),
        (
            ["init.path=/nonexistent/vocos-mel-24khz"],
            "init.path=/nonexistent/vocos-mel-24khz: no such vocos folder or checkpoint",
        ),
        (["model.optim.disc_warmup_steps=8"], "no GAN iteration would run"),
        (
            ["model.optim.pretrain_mel_steps=4", "model.optim.disc_warmup_steps=4"],
            "model.optim.pretrain_mel_steps=4 + model.optim.disc_warmup_steps=4 >= trainer.max_steps=8: no "
            "GAN iteration would run",
        ),
    ],
)
def test_rate_rule_fires_with_its_message(tiny_cfg, overrides, message):
    with pytest.raises(ConfigError) as e:
        check_run_config(tiny_cfg(*overrides))
    assert message in str(e.value)
    for line in str(e.value).splitlines()[1:]:
        assert line.startswith("  - ") and "." in line.split()[1]  # one line a problem, naming its key


def test_all_problems_are_reported_together(tiny_cfg):
    with pytest.raises(ConfigError) as e:
        check_run_config(
            tiny_cfg(
                "audio.hop_length=441",
                "audio.n_fft=2048",
                "model.discriminator.mpd.periods=[2,5000]",
                "model.optim.disc_warmup_steps=9",
            )
        )
    lines = str(e.value).splitlines()[1:]
    assert len(lines) >= 4, lines


def test_forty_eight_khz_with_24khz_settings_cannot_crash(tiny_corpus):
    """A 48 kHz run that keeps n_fft 1024 / hop 256 is consistent (the check passes) and lines up."""
    cfg = _compose(
        "preset=24k",
        "audio.sample_rate=48000",
        f"data.train={tiny_corpus['train']}",
        f"data.val={tiny_corpus['val']}",
        "model/generator=tiny",
    )
    check_run_config(cfg)
    OmegaConf.resolve(cfg)
    gen = build_generator(cfg.model.generator)
    with torch.no_grad():
        assert gen(torch.zeros(1, cfg.audio.segment_length)).shape[-1] == cfg.audio.segment_length


def test_empty_val_manifest_is_one_line(tiny_cfg, tmp_path):
    empty = tmp_path / "val.jsonl"
    empty.write_text("")
    with pytest.raises(ConfigError) as e:
        check_run_config(tiny_cfg(f"data.val={empty}"))
    lines = [ln for ln in str(e.value).splitlines()[1:] if "data.val" in ln]
    assert len(lines) == 1 and lines[0].startswith(f"  - data.val={empty} is empty: ")


def test_val_manifest_with_entries_passes(tiny_cfg, tmp_path):
    val = tmp_path / "val2.jsonl"
    wav = Path(OmegaConf.select(tiny_cfg(), "data.val")).read_text().split()[0]
    val.write_text(json.dumps({"path": wav}) + "\n")
    check_run_config(tiny_cfg(f"data.val={val}"))


def test_init_path_folder_must_hold_both_files_and_match_the_rate(tiny_cfg, tmp_path):
    folder = tmp_path / "pretrained"
    folder.mkdir()
    (folder / "config.yaml").write_text("x: 1\n")
    with pytest.raises(ConfigError, match="pytorch_model.bin missing"):
        check_run_config(tiny_cfg(f"init.path={folder}"))
    cfg = tiny_cfg()
    vc = to_vocos_config(cfg.model.generator)
    vc["feature_extractor"]["init_args"]["sample_rate"] = 24000
    (folder / "config.yaml").write_text(yaml.safe_dump(vc))
    (folder / "pytorch_model.bin").write_bytes(b"")
    with pytest.raises(
        ConfigError, match=r"audio.sample_rate=16000 but init.path=.* was trained with sample_rate=24000"
    ):
        check_run_config(tiny_cfg(f"init.path={folder}"))


def test_a_mel_only_run_warns_instead_of_failing(tiny_cfg):
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        check_run_config(tiny_cfg("model.optim.pretrain_mel_steps=8"))
    assert any("no GAN iteration would run" in str(x.message) for x in w)


def test_time_budget_runs_skip_the_phase_check(tiny_cfg):
    check_run_config(
        tiny_cfg(
            "model.optim.disc_warmup_steps=100",
            "model.optim.time_budget=true",
            "trainer.max_time=00:00:01:00",
        )
    )
