"""Config composition, interpolation, validation and the vocoder-train CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from vocoder_train.config import CONFIG_DIR
from vocoder_train.config.checks import ConfigError
from vocoder_train.training.run import check_run_config

# experiment=features trains on feature-pair manifests with a frame rate and channel count: composed,
# checked and trained by tests/test_feature_pairs.py; the EnCodec experiments need an EnCodec
# weights file and decodes codes, not mels: tests/test_encodec.py
OWN_TESTS = (
    "features",
    "vocos_encodec_24khz",
    "finetune_encodec",
    "codec_encodec_24khz",  # a transformers codec folder: tests/test_hf_codecs.py
    "codec_dac_44khz",
    "codec_mimi_24khz",
)
EXPERIMENTS = sorted(
    p.stem for p in (Path(CONFIG_DIR) / "experiment").glob("*.yaml") if p.stem not in OWN_TESTS
)


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_experiment_composes_and_validates(experiment, tiny_corpus):
    with initialize_config_dir(CONFIG_DIR, version_base="1.3"):
        cfg = compose(
            "train",
            overrides=[
                f"experiment={experiment}",
                f"data.train={tiny_corpus['train']}",
                f"data.val={tiny_corpus['val']}",
                "init.required=false",
            ],  # experiment=finetune refuses to start without weights
        )
    OmegaConf.resolve(cfg)
    check_run_config(cfg)
    a = cfg.audio
    fe, head = cfg.model.generator.feature_extractor, cfg.model.generator.head
    assert fe.sample_rate == a.sample_rate == cfg.data.sample_rate == cfg.model.loss.mel.sample_rate
    assert fe.hop_length == a.hop_length and fe.n_mels == a.n_mels
    assert head.get("hop_length", a.hop_length) == a.hop_length
    assert a.segment_length % a.hop_length == 0


def test_paper_experiment_matches_vocos_setup(tiny_corpus):
    with initialize_config_dir(CONFIG_DIR, version_base="1.3"):
        cfg = compose("train", overrides=["experiment=vocos_mel_24khz", f"data.train={tiny_corpus['train']}"])
    paper = dict(sample_rate=24000, n_fft=1024, hop_length=256, n_mels=100, segment_length=16384)
    assert {k: cfg.audio[k] for k in paper} == paper
    assert cfg.data.batch_size == 16
    assert cfg.model.generator.backbone.dim == 512 and cfg.model.generator.backbone.num_layers == 8
    assert set(cfg.model.discriminator) == {"mpd", "mrd"}
    assert cfg.model.loss.lambdas.g_mel == 45.0 and cfg.model.optim.lr_g == 5e-4
    assert cfg.trainer.max_steps == 2_000_000  # 1M generator updates under manual optimization


def test_one_value_changes_everywhere(tiny_cfg):
    cfg = tiny_cfg("audio.hop_length=128", "audio.segment_length=8192")
    OmegaConf.resolve(cfg)
    assert cfg.model.generator.head.hop_length == 128
    assert cfg.model.generator.feature_extractor.hop_length == 128
    assert cfg.model.loss.mel.hop_length == 128


@pytest.mark.parametrize(
    "override, message",
    [
        ("audio.segment_length=4000", "audio.segment_length=4000 is not a multiple of audio.hop_length=64"),
        ("model.generator.head.hop_length=128", "head hop 128 != feature_extractor.hop_length=64"),
        ("audio.n_mels=300", "audio.n_mels=300 > n_fft // 2 + 1"),
        ("data.val=/nonexistent/val.txt", "data.val=/nonexistent/val.txt: no such file"),
        ("~model.discriminator.mrd.weights.g_fm", "model.discriminator.mrd.weights has no g_fm"),
        ("data.batch_size=0", "data.batch_size=0"),
        (
            "callbacks.model_checkpoint.monitor=val/pesq",
            "callbacks.model_checkpoint.mode=min: val/pesq is better when higher",
        ),
        ("callbacks.model_checkpoint.monitor=val/si_sdr", "not computed; add si_sdr to validation.metrics"),
        ("validation.metrics=[pesq,nope]", "unknown metric 'nope'"),
        ("~model.optim.warmup_steps", "model.optim.warmup_steps is missing"),
        ("+model.optim.warmup=5", "model.optim.warmup: unknown key"),
        ("+model.perf.channels_last=true", "model.perf.channels_last: unknown key"),
        ("model.perf.optimizer=apex", "model.perf.optimizer='apex'"),
        ("model.perf.compile=[generator]", "'generator' is not a compilable part"),
        ("model.perf.compile_mode=fast", "model.perf.compile_mode='fast'"),
        (
            "model.perf.mpd_layout=diagonal",
            "model.perf.mpd_layout='diagonal': choose one of auto, grid, folded",
        ),
        ("~validation.slow_every", "validation.slow_every is missing"),
        ("model.optim.time_budget=true", "model.optim.time_budget=true needs trainer.max_time"),
    ],
)
def test_inconsistent_config_fails_before_training(tiny_cfg, override, message):
    with pytest.raises(ConfigError) as e:
        check_run_config(tiny_cfg(override))
    assert message in str(e.value)


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    code = "from vocoder_train.cli.train import main; main()"
    return subprocess.run(
        [sys.executable, "-c", code, *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_cli_help_lists_groups(tmp_path):
    r = _cli("--help", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "vocoder-train" in r.stdout and "experiment: " in r.stdout.replace("experiment:", "experiment: ")
    assert "vocos_mel_24khz" in r.stdout and "trainer" in r.stdout


@pytest.mark.parametrize(
    "args, line",
    [
        (
            ["trainer.max_step=300"],
            "vocoder-train: trainer.max_step: no such key in the config; did you mean trainer.max_steps?",
        ),
        (
            ["experiment=finetun"],
            "vocoder-train: experiment=finetun: no such option in configs/experiment/; did you mean "
            "experiment=finetune?",
        ),
        (
            ["model/generator=vocos_smal"],
            "vocoder-train: model/generator=vocos_smal: no such option in "
            "configs/model/generator/; did you mean model/generator=vocos_small?",
        ),
    ],
)
def test_cli_typo_is_one_line_with_the_closest_valid_choice(tmp_path, tiny_corpus, args, line):
    r = _cli(f"data.train={tiny_corpus['train']}", f"data.val={tiny_corpus['val']}", *args, cwd=tmp_path)
    assert r.returncode == 2
    assert r.stderr.strip() == line
    assert not (tmp_path / "runs").exists()


def test_cli_finetune_without_weights_is_refused_before_the_run_folder(tmp_path, tiny_corpus):
    r = _cli(
        "experiment=finetune",
        "run_name=x",
        f"data.train={tiny_corpus['train']}",
        f"data.val={tiny_corpus['val']}",
        cwd=tmp_path,
    )
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vocoder-train: init.path is not set: ")
    assert not (tmp_path / "runs").exists()


def test_cli_every_config_problem_is_its_own_line(tmp_path):
    r = _cli("experiment=demo", "data.train=nowhere.jsonl", "data.val=nowhere_val.jsonl", cwd=tmp_path)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [
        "vocoder-train: data.train=nowhere.jsonl: no such file or folder",
        "vocoder-train: data.val=nowhere_val.jsonl: no such file or folder",
    ]
    assert not (tmp_path / "runs").exists()


def test_slurm_launcher_config_composes(tmp_path, tiny_corpus):
    r = _cli(
        "hydra/launcher=slurm",
        "experiment=tiny",
        "trainer=ddp",
        "trainer.num_nodes=2",
        f"data.train={tiny_corpus['train']}",
        f"data.val={tiny_corpus['val']}",
        "--cfg",
        "hydra",
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr
    assert (
        "SlurmLauncher" in r.stdout
        and "nodes: ${trainer.num_nodes}" in r.stdout
        and "signal_delay_s: 120" in r.stdout
    )


def test_mixing_sources_replace_data_train(tiny_cfg, tiny_corpus):
    ok = tiny_cfg(
        "data=mix",
        "data.train=null",
        f"data.sources=[{{manifest: {tiny_corpus['train']}, weight: 3}},"
        f"{{manifest: {tiny_corpus['val']}, weight: 1}}]",
        "data.num_workers=0",
        "data.batch_size=2",
    )
    check_run_config(ok)
    bad = tiny_cfg("data=mix", "data.train=null", "data.sources=[{manifest: /nope.jsonl, weight: 0}]")
    with pytest.raises(ConfigError) as e:
        check_run_config(bad)
    assert "data.sources[0].manifest=/nope.jsonl" in str(e.value) and "data.sources[0].weight=0" in str(
        e.value
    )


def test_cli_a_non_checkpoint_as_ckpt_path_is_one_line_and_leaves_no_run_folder(tmp_path, tiny_corpus):
    (tmp_path / "notes.txt").write_text("not a checkpoint\n")
    r = _cli(
        "experiment=tiny",
        f"data.train={tiny_corpus['train']}",
        f"data.val={tiny_corpus['val']}",
        "ckpt_path=notes.txt",
        cwd=tmp_path,
    )
    assert r.returncode == 2
    assert r.stderr.strip().splitlines()[-1] == (
        "vocoder-train: ckpt_path: notes.txt is a text file, not a checkpoint (torch.save or safetensors): "
        "give a "
        "training checkpoint (.ckpt), e.g. <run>/checkpoints/last.ckpt"
    )
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "runs").exists()
