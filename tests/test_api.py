"""The Python API: lazy package attributes, copy synthesis from a path, train from overrides."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.helpers.audio import tone
from vocoder_train.io.audio import load_audio, save_audio

PROBE = r"""
import json, sys
import vocoder_train as vt
before = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "vocos", "hydra", "numba"))
names = dir(vt)
fn = vt.load_vocoder
print(json.dumps({"heavy_before": before, "names": names, "fn": fn.__module__}))
"""


def test_importing_the_package_is_light_and_the_api_is_lazy():
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res["heavy_before"] == []  # `import vocoder_train` imports none of them
    assert {"load_vocoder", "copy_synthesize", "train", "Vocoder"} <= set(res["names"])
    assert res["fn"] == "vocoder_train.api"
    import vocoder_train

    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        vocoder_train.nope  # noqa: B018


def test_copy_synthesize_from_a_path_equals_the_vocoder(tiny_checkpoint, tmp_path):
    import vocoder_train as vt

    wav = tmp_path / "in.flac"
    save_audio(wav, tone(22050, 0.5, 170.0), 22050)  # resampled to the model's 16 kHz
    out = vt.copy_synthesize(tiny_checkpoint, wav, tmp_path / "out.wav")
    written, sr = load_audio(tmp_path / "out.wav")
    assert sr == 16000 and out.shape == written.shape == (1, round(0.5 * 16000))
    assert (written - out.clamp(-1, 1)).abs().max() < 1e-4  # 16-bit PCM
    vocoder = vt.load_vocoder(tiny_checkpoint)
    audio, _ = load_audio(wav, 16000)
    torch.testing.assert_close(
        vt.copy_synthesize(vocoder, wav), vocoder.copy_synthesis(audio), atol=1e-5, rtol=0
    )
    assert vocoder.decode(vocoder.features(audio)).shape[-1] % vocoder.hop_length == 0


def test_train_from_overrides(tiny_corpus, tmp_path):
    import vocoder_train as vt

    metrics = vt.train(
        [
            "experiment=tiny",
            f"data.train={tiny_corpus['train']}",
            f"data.val={tiny_corpus['val']}",
            f"paths.runs_dir={tiny_corpus['runs']}",
            "run_name=api",
            "trainer.max_steps=4",
            "callbacks.progress_bar=null",
        ]
    )
    assert metrics["val/mel_l1"] > 0
    run = Path(tiny_corpus["runs"]) / "api"
    assert (run / "checkpoints" / "last.ckpt").is_file() and (run / ".hydra" / "config.yaml").is_file()
