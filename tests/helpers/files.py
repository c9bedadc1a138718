"""One small file (or folder) of each kind a user may hand a tool, for the file-kind checks."""

from __future__ import annotations

import pickle
import warnings
from pathlib import Path

import numpy as np
import torch

from tests.helpers.audio import tone


def write_onnx(path: Path) -> Path:
    """A one-node ONNX graph (y = x)."""
    import onnx
    from onnx import TensorProto, helper

    x, y = (helper.make_tensor_value_info(n, TensorProto.FLOAT, [1]) for n in ("x", "y"))
    onnx.save(
        helper.make_model(helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g", [x], [y])),
        path,
    )
    return path


def write_torchscript(path: Path) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit is deprecated but still writes archives
        torch.jit.trace(torch.nn.Linear(2, 2), torch.zeros(1, 2)).save(str(path))
    return path


def _truncated_checkpoint(path: Path) -> None:
    torch.save({"w": torch.randn(1000)}, path)
    path.write_bytes(path.read_bytes()[:500])


def _folder(path: Path, *files: str) -> None:
    path.mkdir()
    for name in files:
        (path / name).write_text("a: 1\n") if name.endswith(".yaml") else _wav(path / name)


def _wav(path: Path) -> None:
    from vocoder_train.io.audio import save_audio

    save_audio(path, tone(16000, 0.2), 16000)


def write_samples(folder: Path) -> dict[str, str]:
    """Writes one sample of each kind into ``folder``; returns {file or folder name: the kind sniff gives it}.
    "missing.ckpt" is not written."""
    from safetensors.torch import save_file

    writers = {
        "last.ckpt": ("torch", lambda p: torch.save({"w": torch.zeros(2)}, p)),
        "legacy.pt": (
            "pickle",
            lambda p: torch.save({"w": torch.zeros(2)}, p, _use_new_zipfile_serialization=False),
        ),
        "plain.pkl": ("pickle", lambda p: p.write_bytes(pickle.dumps({"a": 1}, protocol=4))),
        "truncated.ckpt": ("damaged-zip", _truncated_checkpoint),
        "generator.safetensors": ("safetensors", lambda p: save_file({"w": torch.zeros(2)}, str(p))),
        "generator.onnx": ("onnx", write_onnx),
        "generator.torchscript.pt": ("torchscript", write_torchscript),
        "mel.npy": ("npy", lambda p: np.save(p, np.zeros((32, 10), np.float32))),
        "mels.npz": ("npz", lambda p: np.savez(p, mel=np.zeros((32, 10), np.float32))),
        "speech.wav": ("audio", _wav),
        "song.mp3": ("audio", lambda p: p.write_bytes(b"ID3\x04\x00\x00\x00\x00\x00\x00" + bytes(64))),
        "config.yaml": ("text", lambda p: p.write_text("sample_rate: 16000\n")),
        "notes.txt": ("text", lambda p: p.write_text("hello\n")),
        "text_posing_as.npy": ("text", lambda p: p.write_text("0.1 0.2 0.3\n")),
        "empty.ckpt": ("empty", lambda p: p.write_bytes(b"")),
        "noise.bin": ("binary", lambda p: p.write_bytes(bytes(range(256)) * 4)),
        "exported": ("model-folder", lambda p: _folder(p, "config.yaml")),
        "speech": ("audio-folder", lambda p: _folder(p, "a.wav")),
        "nothing": ("folder", lambda p: _folder(p)),
    }
    for name, (_, write) in writers.items():
        write(folder / name)
    return {name: kind for name, (kind, _) in writers.items()} | {"missing.ckpt": "missing"}


class CodeRunningPayload:
    """Unpickling this runs ``touch <marker>``: what a hostile weights file would do."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        import os

        return (os.system, (f"touch '{self.marker}'",))


def write_hostile_weights(path: Path, marker: Path) -> Path:
    """A torch.save file of weights that runs ``touch marker`` when unpickled without ``weights_only``."""
    torch.save({"w": torch.zeros(2), "hook": CodeRunningPayload(str(marker))}, path)
    return path
