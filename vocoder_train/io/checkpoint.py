"""Checkpoint I/O: safe load and atomic save. A checkpoint is untrusted input.

Every load of weights goes through :func:`load_checkpoint`: ``torch.load(..., weights_only=True)``
(tensors, numbers, strings and containers only; a pickle that tries to build any other
object, e.g. one crafted to run code, is refused before anything runs) or safetensors.
:func:`safetensors_metadata` reads a safetensors header only; :func:`load_torchscript` opens a
TorchScript archive (TorchScript code and weights, no pickled Python objects).
"""

from __future__ import annotations

import json
import os
import pickle
import warnings
import zipfile
from pathlib import Path
from typing import Any

import torch


class CheckpointError(RuntimeError):
    """A checkpoint could not be loaded safely. The message names the file and what to do."""


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> Any:
    """Loads ``path`` (.ckpt / .pt / .bin / .safetensors) without executing pickled code."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no such checkpoint")
    if p.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(p), device=str(map_location))
        except Exception as e:
            raise CheckpointError(f"{p}: not a readable safetensors file ({e})") from e
    try:
        return torch.load(p, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        raise CheckpointError(
            f"{p}: refused: it contains objects other than tensors and plain containers "
            f"(weights_only=True). Nothing from it was executed. Only load checkpoints you trust "
            f"to be plain weights; re-export it with vocoder-export. Detail: {str(e).splitlines()[0]}"
        ) from e
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError) as e:
        raise CheckpointError(
            f"{p}: unreadable or truncated checkpoint ({str(e).splitlines()[0] if str(e) else type(e).__name__}); "
            f"use an earlier checkpoint from the same folder"
        ) from e


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
        raise CheckpointError(f"{path}: metadata '{key}' is not valid JSON ({e.msg}); re-export the file") from e


def load_torchscript(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> torch.jit.ScriptModule:
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
        raise CheckpointError(f"{p}: not a TorchScript archive ({str(e).splitlines()[0] if str(e) else type(e).__name__})") from e


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save`` to a temporary file in the same folder, fsync, then rename over ``path``.

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
        os.replace(tmp, dst)
        dir_fd = os.open(dst.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    finally:
        if tmp.exists():
            tmp.unlink()
