"""vocoder-export -f onnx --quantize int8: the head and ISTFT stay fp32, the graph loads with load_vocoder,
and the quality gate refuses (writing nothing) unless --force-quality."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest
import torch

from tests.helpers.vocos_folder import write_tiny_vocos_folder
from vocoder_train.cli.export import main
from vocoder_train.models.graph_vocoders import OnnxVocoder
from vocoder_train.models.quantize import HEAD_SCOPE
from vocoder_train.models.store import load_generator
from vocoder_train.models.vocoder import load_vocoder


def _ops(path: Path) -> dict[str, str]:
    return {n.name: n.op_type for n in onnx.load(str(path)).graph.node}


def _leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("method", ["dynamic", "static"])
def test_int8_export_keeps_head_and_istft_fp32_and_loads(
    tiny_checkpoint, tiny_corpus, tmp_path, method, capsys
):
    out = tmp_path / method
    extra = ["--calibration", tiny_corpus["train"]] if method == "static" else []
    argv = [str(tiny_checkpoint), "-o", str(out), "-f", "onnx", "--quantize", "int8", "--quantize-method"]
    assert main([*argv, method, *extra]) == 0
    printed = capsys.readouterr().out
    assert f"int8 ({method})" in printed and "real-time factor" in printed and "PESQ" in printed

    ops = _ops(out / "generator.onnx")
    quantized = {"dynamic": "MatMulInteger", "static": "QuantizeLinear"}[method]
    assert quantized in ops.values()
    assert ops[f"{HEAD_SCOPE}MatMul"] == "MatMul"  # the head's projection is not quantized
    istft = [name for name in ops if name.startswith("/istft/")]
    assert istft and all("Integer" not in ops[n] and "Quantize" not in ops[n] for n in istft)

    vocoder = load_vocoder(out)  # as vocoder-synthesize loads it
    assert isinstance(vocoder, OnnxVocoder)
    gen, _ = load_generator(tiny_checkpoint)
    mel = gen.features(torch.randn(1, 8000).clamp(-1, 1) * 0.3)
    with torch.inference_mode():
        ref = gen.synthesize(mel)
    got = vocoder.decode(mel)
    assert got.shape == ref.shape and torch.isfinite(got).all()
    assert (got - ref).abs().max() < 0.1 * ref.abs().max() + 1e-3  # int8: close, not fp32-exact
    assert "int8" in (out / "README.md").read_text()


def test_quality_gate_refuses_and_writes_nothing_unless_forced(
    tiny_checkpoint, tiny_corpus, tmp_path, capsys
):
    out = tmp_path / "int8"
    argv = [str(tiny_checkpoint), "-o", str(out), "-f", "onnx", "--quantize", "int8"]
    strict = ["--quality-data", tiny_corpus["val"], "--max-mel-l1-rise", "-1"]  # needs a 1.0 improvement

    assert main([*argv, *strict]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert "mel L1" in err and "--max-mel-l1-rise -1" in err and "--force-quality" in err
    assert not out.exists() and not _leftovers(tmp_path), "nothing may be written when the gate refuses"

    assert main([*argv, *strict, "--force-quality"]) == 0
    printed = capsys.readouterr().out
    assert "written with --force-quality" in printed and "mel L1" in printed
    assert (out / "generator.onnx").is_file() and not _leftovers(tmp_path)


def test_quantize_is_for_onnx_only(tiny_checkpoint, tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main([str(tiny_checkpoint), "-o", str(tmp_path / "x"), "-f", "torchscript", "--quantize", "int8"])
    assert e.value.code == 2 and "--quantize int8 is for -f onnx" in capsys.readouterr().err


def test_a_model_without_data_lists_needs_quality_data(tmp_path, tiny_corpus, capsys):
    source = write_tiny_vocos_folder(tmp_path / "vocos", 16000)
    out = tmp_path / "int8"
    argv = [str(source), "-o", str(out), "-f", "onnx", "--quantize", "int8"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "--quality-data" in err and "no val list" in err and not out.exists()
    assert main([*argv, "--quality-data", tiny_corpus["val"]]) == 0
    assert (out / "generator.onnx").is_file()
