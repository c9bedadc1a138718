"""Checkpoint I/O: safe load and atomic save. A checkpoint is untrusted input.

Every load of weights goes through :func:`load_checkpoint`: ``torch.load(..., weights_only=True)``
(tensors, numbers, strings and containers only; a pickle that tries to build any other
object, e.g. one crafted to run code, is refused before anything runs) or safetensors, told apart
by content (:func:`~vocoder_train.io.filekind.sniff`); any other kind of file is refused unread.
:func:`safetensors_metadata` reads a safetensors header only; :func:`load_torchscript` opens a
TorchScript archive (TorchScript code and weights, no pickled Python objects). What is written
gets the mode the process umask gives new files (:func:`apply_umask`), so others can share it.
"""

from __future__ import annotations

import itertools
import json
import os
import pickle
import warnings
from pathlib import Path
from typing import Any

import torch

from vocoder_train.io.filekind import FileKind, WrongFileKind, sniff


class CheckpointError(RuntimeError):
    """A checkpoint could not be loaded safely. The message names the file and what to do."""


# what torch.load(weights_only=True) is tried on; "empty" and "binary" too, so a checkpoint damaged by a crash
# is reported as unreadable (and a resume can fall back to an earlier one)
TORCH_LOADABLE = ("torch", "pickle", "damaged-zip", "empty", "binary")
CHECKPOINT_EXPECTED = "a checkpoint (torch.save or safetensors)"
# torch's refusal message advises weights_only=False or allow-listing globals: unsafe for untrusted files
_UNSAFE_ADVICE = ("weights_only", "safe_globals", "torch.load", "file an issue")


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> Any:
    """Loads a torch.save file or a safetensors file (recognised by content) without executing pickled code.

    Raises :class:`~vocoder_train.io.filekind.WrongFileKind` for any other kind of file (text, audio,
    a numpy array, an ONNX or TorchScript graph, ...) and :class:`CheckpointError` for a refused or
    unreadable checkpoint."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no such checkpoint")
    found = sniff(p)
    if found.name == "safetensors":
        return _load_safetensors(p, map_location)
    if found.name not in TORCH_LOADABLE:
        raise WrongFileKind(
            p,
            found,
            CHECKPOINT_EXPECTED,
            "give a run's checkpoints/last.ckpt or a model file that vocoder-export wrote",
        )
    try:
        return torch.load(p, map_location=map_location, weights_only=True)
    except Exception as e:  # torch.load reports damage as RuntimeError, EOFError, KeyError, IndexError, ...
        raise _load_error(p, found, e) from e


def _load_error(p: Path, found: FileKind, e: Exception) -> CheckpointError:
    if isinstance(e, pickle.UnpicklingError) and found.name in ("torch", "pickle"):
        return CheckpointError(
            f"{p}: refused: it contains objects other than tensors and plain containers ({_detail(e)}). "
            "Nothing from it was executed. Load only checkpoints that hold plain weights; re-export it with "
            "vocoder-export from a checkpoint you made"
        )
    return CheckpointError(
        f"{p}: unreadable or truncated checkpoint ({_detail(e)}); use an earlier checkpoint "
        "from the same folder"
    )


def _load_safetensors(p: Path, map_location: str | torch.device) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    try:
        return load_file(str(p), device=str(map_location))
    except Exception as e:
        raise CheckpointError(f"{p}: not a readable safetensors file ({e})") from e


def _detail(e: BaseException) -> str:
    """The first line of an error that is not torch's advice to load the file unsafely (or the error's
    type)."""
    for line in str(e).splitlines():
        reason = line.split(" Please ")[0].removeprefix("WeightsUnpickler error: ").strip().rstrip(".")
        if reason and not any(advice in reason for advice in _UNSAFE_ADVICE):
            return reason
    return type(e).__name__


def safetensors_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The string metadata of a safetensors file's header (empty when it has none); no tensor is read."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            return dict(f.metadata() or {})
    except Exception as e:
        raise CheckpointError(f"{path}: not a readable safetensors file ({e})") from e


def safetensors_json(path: str | os.PathLike, key: str) -> Any:
    """The JSON value stored under ``key`` in a safetensors file's metadata, or None."""
    meta = safetensors_metadata(path)
    if key not in meta:
        return None
    try:
        return json.loads(meta[key])
    except json.JSONDecodeError as e:
        raise CheckpointError(
            f"{path}: metadata '{key}' is not valid JSON ({e.msg}); re-export the file"
        ) from e


def load_torchscript(
    path: str | os.PathLike, map_location: str | torch.device = "cpu"
) -> torch.jit.ScriptModule:
    """A TorchScript archive in eval mode. It holds TorchScript code and weights, not pickled Python
    objects, but that code runs when called: load only files you made or trust."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no such TorchScript file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # torch.jit is deprecated in 2.14 but works
            return torch.jit.load(str(p), map_location=map_location).eval()
    except Exception as e:
        raise CheckpointError(f"{p}: not a TorchScript archive ({_detail(e)})") from e


def process_umask() -> int:
    """The process umask, read from /proc where it can be (changing it to read it races with other
    threads)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def apply_umask(path: str | os.PathLike) -> None:
    """Gives ``path``, and everything in it when it is a folder, the mode a plain ``open`` / ``mkdir`` would:
    0o666 / 0o777 less the process umask. Files and folders made by ``tempfile`` are 0o600 / 0o700, which
    would keep an export or a checkpoint from the group and from other users (or a container's user)."""
    root, mask = Path(path), process_umask()
    for p in itertools.chain([root], root.rglob("*") if root.is_dir() else []):
        if not p.is_symlink():
            os.chmod(p, (0o777 if p.is_dir() else 0o666) & ~mask)


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save`` to a temporary file in the same folder, fsync, then rename over ``path``; the file
    gets the mode the process umask gives new files.

    A kill at any moment leaves either the old file or the new one, never a truncated one.
    """
    dst = Path(path)
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        apply_umask(tmp)
        os.replace(tmp, dst)
        dir_fd = os.open(dst.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    finally:
        if tmp.exists():
            tmp.unlink()
