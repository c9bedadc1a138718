"""vocoder-export -f sherpa-onnx run inside sherpa-onnx's OfflineTts behind a Matcha stand-in, its ISTFT
convention checked with kaldi-native-fbank, and the models neither of its forms carries refused."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.helpers.sherpa import matcha_stand_in

sherpa_onnx = pytest.importorskip("sherpa_onnx", reason="pip install -e '.[sherpa]' (make install does)")


@pytest.fixture(scope="module")
def exported(tiny_checkpoint, tmp_path_factory):
    from vocoder_train.models.export import export

    out = tmp_path_factory.mktemp("sherpa") / "vocoder"
    result = export(tiny_checkpoint, out, "sherpa-onnx")
    return out, result


def test_sherpa_onnx_synthesizes_what_vocoder_synthesize_gives(exported, tiny_checkpoint, tmp_path):
    """sherpa-onnx's audio from a fixed mel equals ours on that mel, less hop / 2 samples at each end
    ("same" padding: sherpa-onnx's ISTFT is torch.istft(center=True)), to 1e-4 (float32 in two runtimes)."""
    import onnx

    from vocoder_train.models.vocoder import load_vocoder

    folder, result = exported
    meta = {p.key: p.value for p in onnx.load(str(folder / "vocoder.sherpa.onnx")).metadata_props}
    vocoder = load_vocoder(tiny_checkpoint, engine="eager")
    assert meta["model_type"] == "vocos" and meta["sample_rate"] == str(vocoder.sample_rate)
    assert meta["n_fft"] == str(vocoder.n_fft) and meta["center"] == "1"
    assert result.max_abs_diff <= 1e-4 and any("model_type=vocos" in n for n in result.notes)

    mel = vocoder.features(
        0.1 * torch.randn(1, 40 * vocoder.hop_length, generator=torch.Generator().manual_seed(0))
    )
    matcha = matcha_stand_in(tmp_path / "matcha", mel.numpy(), vocoder.sample_rate)
    theirs = _synthesize(folder / "vocoder.sherpa.onnx", matcha)
    ours = vocoder.decode(mel)[0].numpy()
    trim = vocoder.hop_length // 2
    assert theirs.shape == (ours.shape[0] - 2 * trim,)
    assert np.abs(theirs - ours[trim:-trim]).max() <= 1e-4


def test_hifigan_form_runs_in_sherpa_onnx_with_our_exact_samples(tiny_checkpoint, tmp_path):
    """--sherpa-form hifigan: the whole graph (our ISTFT) tagged model_type=hifigan; sherpa-onnx gives our
    samples, all of them."""
    import onnx

    from vocoder_train.cli.export import main as export_main
    from vocoder_train.models.vocoder import load_vocoder

    out = tmp_path / "hifigan"
    args = [str(tiny_checkpoint), "-o", str(out), "-f", "sherpa-onnx", "--sherpa-form", "hifigan"]
    assert export_main(args) == 0
    meta = {p.key: p.value for p in onnx.load(str(out / "vocoder.sherpa.onnx")).metadata_props}
    assert meta["model_type"] == "hifigan"
    vocoder = load_vocoder(tiny_checkpoint, engine="eager")
    audio = 0.1 * torch.randn(1, 30 * vocoder.hop_length, generator=torch.Generator().manual_seed(1))
    mel = vocoder.features(audio)
    matcha = matcha_stand_in(tmp_path / "m", mel.numpy(), vocoder.sample_rate)
    theirs = _synthesize(out / "vocoder.sherpa.onnx", matcha)
    ours = vocoder.decode(mel)[0].numpy()
    assert theirs.shape == ours.shape and np.abs(theirs - ours).max() <= 1e-4


def _synthesize(vocoder_file, matcha: dict) -> np.ndarray:
    """sherpa-onnx's OfflineTts with ``vocoder_file`` behind the Matcha stand-in, on its one word."""
    config = sherpa_onnx.OfflineTtsConfig(
        model=sherpa_onnx.OfflineTtsModelConfig(
            matcha=sherpa_onnx.OfflineTtsMatchaModelConfig(vocoder=str(vocoder_file), **matcha), num_threads=1
        )
    )
    assert config.validate()
    generation = sherpa_onnx.GenerationConfig()
    generation.silence_scale = 1.0  # its default shortens pauses
    return np.asarray(sherpa_onnx.OfflineTts(config).generate("ab", generation).samples)


def test_kaldi_native_fbank_istft_is_the_convention_the_export_is_checked_with():
    """sherpa-onnx's ISTFT (kaldi-native-fbank) = torch.istft with a periodic Hann window, center=True."""
    knf = pytest.importorskip("kaldi_native_fbank")
    n_fft, hop, frames = 256, 64, 30
    g = torch.Generator().manual_seed(0)
    spec = torch.complex(
        torch.randn(n_fft // 2 + 1, frames, generator=g), torch.randn(n_fft // 2 + 1, frames, generator=g)
    )
    ours = torch.istft(spec, n_fft, hop, n_fft, torch.hann_window(n_fft), center=True).numpy()
    config = knf.StftConfig(n_fft=n_fft, hop_length=hop, win_length=n_fft, window_type="hann", center=True)
    result = knf.StftResult(
        real=spec.real.T.reshape(-1).tolist(), imag=spec.imag.T.reshape(-1).tolist(), num_frames=frames
    )
    theirs = np.asarray(knf.IStft(config)(result))
    assert theirs.shape == ours.shape and np.abs(theirs - ours).max() <= 1e-4 * np.abs(ours).max()


def test_models_neither_form_carries_are_refused_with_one_line():
    from vocos.feature_extractors import MelSpectrogramFeatures
    from vocos.heads import ISTFTHead
    from vocos.models import VocosBackbone

    from vocoder_train.models.generator import VocosGenerator
    from vocoder_train.models.inference.exportable import UnsupportedForExport
    from vocoder_train.models.sherpa import sherpa_form

    fe = MelSpectrogramFeatures(16000, 256, 64, 24, padding="center")
    plain = VocosGenerator(fe, VocosBackbone(24, 16, 32, 1), ISTFTHead(16, 256, 64, padding="center"))
    assert sherpa_form(plain) == "vocos"
    conditioned = VocosGenerator(
        fe, VocosBackbone(24, 16, 32, 1, adanorm_num_embeddings=2), ISTFTHead(16, 256, 64, padding="center")
    )
    with pytest.raises(UnsupportedForExport, match="conditioned on a bandwidth id"):
        sherpa_form(conditioned)
    projected = VocosGenerator(fe, VocosBackbone(24, 16, 32, 1), ISTFTHead(16, 256, 64), mel_passes=2)
    with pytest.raises(UnsupportedForExport, match="refinement"):
        sherpa_form(projected)
