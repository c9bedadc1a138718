"""The smallest Matcha-TTS acoustic model sherpa-onnx's OfflineTts accepts: Matcha's inputs (token ids, their
count, noise and length scales), a fixed mel as output, the metadata sherpa-onnx reads, and its lexicon and
token files (one word, two tokens)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def matcha_stand_in(folder: Path, mel: np.ndarray, sample_rate: int) -> dict[str, str]:
    """Writes ``model.onnx`` (output: ``mel`` (1, n_mels, frames) whatever the text), ``lexicon.txt`` and
    ``tokens.txt`` into ``folder``; returns the OfflineTtsMatchaModelConfig arguments (less the vocoder).
    The text to synthesize is "ab"."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    folder.mkdir(parents=True, exist_ok=True)
    node = helper.make_node(
        "Constant", [], ["mel"], value=numpy_helper.from_array(mel.astype(np.float32), "m")
    )
    graph = helper.make_graph(
        [node],
        "matcha_stand_in",
        [
            helper.make_tensor_value_info("x", TensorProto.INT64, [1, "N"]),
            helper.make_tensor_value_info("x_length", TensorProto.INT64, [1]),
            helper.make_tensor_value_info("noise_scale", TensorProto.FLOAT, [1]),
            helper.make_tensor_value_info("length_scale", TensorProto.FLOAT, [1]),
        ],
        [helper.make_tensor_value_info("mel", TensorProto.FLOAT, list(mel.shape))],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    meta = dict(
        sample_rate=sample_rate,
        n_speakers=0,
        jieba=1,
        has_espeak=0,
        use_eos_bos=0,
        pad_id=0,
        model_type="matcha-tts",
    )
    for key, value in meta.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, str(value)
    onnx.save(model, str(folder / "model.onnx"))
    (folder / "tokens.txt").write_text("_ 0\na 1\nb 2\n")
    (folder / "lexicon.txt").write_text("ab a b\n")
    return {
        "acoustic_model": str(folder / "model.onnx"),
        "lexicon": str(folder / "lexicon.txt"),
        "tokens": str(folder / "tokens.txt"),
    }
