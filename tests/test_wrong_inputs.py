"""Every tool recognises the kind of file it is given and refuses a wrong one in one line; what it
writes has the modes the umask gives."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.helpers.files import write_onnx, write_samples
from vocoder_train.io.checkpoint import CheckpointError, atomic_torch_save, load_checkpoint
from vocoder_train.io.filekind import WrongFileKind, sniff

UNSAFE_ADVICE = (
    "weights_only=False",
    "`weights_only` set to `False`",
    "will likely succeed",
    "safe_globals",
    "allow_pickle",
)


@pytest.fixture(scope="module")
def samples(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """(folder, {name: kind}) with one file or folder of each kind."""
    folder = tmp_path_factory.mktemp("samples")
    return folder, write_samples(folder)


def _one_line_error(capsys) -> str:
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert err.count("\n") == 0 and "Traceback" not in err, err
    return err


@pytest.fixture
def umask():
    """umask(mask): sets the process umask for this test, restored after it."""
    old = os.umask(0o022)
    yield os.umask
    os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# -- recognising files -------------------------------------------------------------------------------------


def test_sniff_tells_every_kind_apart_by_content(samples):
    folder, kinds = samples
    found = {name: sniff(folder / name).name for name in kinds}
    assert found == kinds


def test_a_torch_checkpoint_is_found_whatever_its_name(tmp_path):
    from vocoder_train.models.store import model_kind

    torch.save({"w": torch.zeros(1)}, tmp_path / "weights.npy")
    write_onnx(tmp_path / "graph.bin")
    assert model_kind(tmp_path / "weights.npy")[0] == "checkpoint"
    assert model_kind(tmp_path / "graph.bin")[0] == "onnx"


# -- vocoder-export ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, looks",
    [
        ("notes.txt", "a text file"),
        ("speech.wav", "a WAV audio file"),
        ("config.yaml", "a YAML file"),
        ("mel.npy", "a numpy array (a mel?)"),
        ("noise.bin", "binary data of unknown kind"),
    ],
)
def test_export_refuses_a_non_checkpoint_in_one_line(samples, tmp_path, capsys, name, looks):
    from vocoder_train.cli.export import main

    source = samples[0] / name
    assert main([str(source), "-o", str(tmp_path / "x"), "-f", "vocos"]) == 2
    err = _one_line_error(capsys)
    assert f"{source} is {looks}, not PyTorch weights (a training checkpoint .ckpt" in err
    assert err.endswith("vocoder-export CKPT_OR_FOLDER -o OUT -f FORMAT")
    assert not (tmp_path / "x").exists()


def test_export_refuses_a_graph_export_and_says_to_use_its_source(samples, tmp_path, capsys):
    from vocoder_train.cli.export import main

    assert main([str(samples[0] / "generator.onnx"), "-o", str(tmp_path / "x"), "-f", "safetensors"]) == 2
    err = _one_line_error(capsys)
    assert "generator.onnx is an ONNX model, not PyTorch weights" in err and "made from" in err


# -- vocoder-synthesize ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "model, looks",
    [
        ("mel.npy", "a numpy array (a mel?)"),
        ("speech.wav", "a WAV audio file"),
        ("speech", "a folder of audio or mel files"),
    ],
)
def test_synthesize_with_swapped_arguments_says_the_model_comes_first(
    samples, tmp_path, capsys, model, looks
):
    from vocoder_train.cli.synthesize import main

    folder = samples[0]
    assert main([str(folder / model), str(folder / "exported"), "-o", str(tmp_path / "x")]) == 2
    err = _one_line_error(capsys)
    assert err == (
        f"vocoder-synthesize: error: {folder / model} is {looks}, not a model (a training checkpoint .ckpt, "
        "a vocos folder, or a vocoder-export folder or file): the model comes first: "
        "vocoder-synthesize MODEL INPUT... -o OUT"
    )


@pytest.mark.parametrize("model", ["notes.txt", "config.yaml", "empty.ckpt"])
def test_synthesize_names_a_non_model_and_what_to_give(samples, tmp_path, capsys, model):
    from vocoder_train.cli.synthesize import main

    assert main([str(samples[0] / model), str(samples[0] / "mel.npy"), "-o", str(tmp_path / "x")]) == 2
    err = _one_line_error(capsys)
    assert f"{samples[0] / model} is " in err and "not a model" in err and "vocoder-export wrote" in err


def test_text_posing_as_a_mel_is_named_without_numpy_advice(samples, tiny_checkpoint, tmp_path, capsys):
    from vocoder_train.cli.synthesize import main

    fake = samples[0] / "text_posing_as.npy"
    assert main([str(tiny_checkpoint), str(fake), "-o", str(tmp_path / "x")]) == 1
    err = capsys.readouterr().err
    assert f"{fake} is a text file, not a numpy .npy array: save each mel with numpy.save" in err
    assert not any(a in err for a in UNSAFE_ADVICE)


@pytest.mark.parametrize(
    "name, looks",
    [
        ("text_posing_as.npy", "a text file"),
        ("mels.npz", "a numpy .npz archive"),
        ("speech.wav", "a WAV audio file"),
    ],
)
def test_load_mel_names_what_a_non_npy_file_is(samples, name, looks):
    from vocoder_train.data.pair_dataset import PairMismatchError, load_features

    with pytest.raises(
        PairMismatchError, match=f"{name} is {looks}, not a numpy .npy array: save each mel"
    ) as e:
        load_features(samples[0] / name, 32)
    assert not any(a in str(e.value) for a in UNSAFE_ADVICE)


def test_a_npy_of_python_objects_gets_no_allow_pickle_advice(tmp_path):
    from vocoder_train.data.pair_dataset import PairMismatchError, load_features

    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(PairMismatchError, match="it holds Python objects, not numbers") as e:
        load_features(tmp_path / "objects.npy", 32)
    assert not any(a in str(e.value) for a in UNSAFE_ADVICE)


# -- the loaders under the tools ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "notes.txt",
        "speech.wav",
        "config.yaml",
        "mel.npy",
        "generator.onnx",
        "generator.torchscript.pt",
        "mels.npz",
    ],
)
def test_load_checkpoint_refuses_other_kinds_unread(samples, name):
    with pytest.raises(WrongFileKind, match=f"{name} is .*, not a checkpoint"):
        load_checkpoint(samples[0] / name)


@pytest.mark.parametrize("name", ["empty.ckpt", "noise.bin", "truncated.ckpt"])
def test_damaged_checkpoints_stay_unreadable_not_refused(samples, name):
    """A checkpoint a crash left empty or cut short is reported so a resume can fall back to an earlier
    one."""
    with pytest.raises(CheckpointError, match="unreadable or truncated checkpoint") as e:
        load_checkpoint(samples[0] / name)
    assert not any(a in str(e.value) for a in UNSAFE_ADVICE)


def test_load_vocoder_refuses_a_mel_as_a_model_error(samples):
    from vocoder_train.models.stored_config import ModelError
    from vocoder_train.models.vocoder import load_vocoder

    with pytest.raises(ModelError, match=r"mel.npy is a numpy array \(a mel\?\), not a model"):
        load_vocoder(samples[0] / "mel.npy")


def test_a_refused_checkpoint_never_passes_on_torch_unsafe_advice(tmp_path):
    import os as os_module

    class Payload:
        def __reduce__(self):
            return (os_module.system, ("true",))

    torch.save({"w": torch.zeros(1), "hook": Payload()}, tmp_path / "evil.ckpt")
    with pytest.raises(CheckpointError, match=r"evil.ckpt: refused: .*GLOBAL posix\.system") as e:
        load_checkpoint(tmp_path / "evil.ckpt")
    assert not any(a in str(e.value) for a in UNSAFE_ADVICE)


# -- modes of what is written ------------------------------------------------------------------------------


@pytest.mark.parametrize("mask, folder_mode, file_mode", [(0o022, 0o755, 0o644), (0o002, 0o775, 0o664)])
def test_export_follows_the_umask(tiny_checkpoint, tmp_path, umask, mask, folder_mode, file_mode):
    from vocoder_train.models.export import export

    umask(mask)
    out = export(tiny_checkpoint, tmp_path / "exports" / "speaker", "safetensors").output
    assert _mode(out) == folder_mode
    assert {p.name: _mode(p) for p in out.iterdir()} == dict.fromkeys(
        ("config.yaml", "generator.safetensors", "README.md"), file_mode
    )


@pytest.mark.parametrize("mask, file_mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_atomic_save_follows_the_umask(tmp_path, umask, mask, file_mode):
    umask(mask)
    atomic_torch_save({"w": torch.zeros(1)}, tmp_path / "last.ckpt")
    assert _mode(tmp_path / "last.ckpt") == file_mode
