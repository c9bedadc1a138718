"""Input handling shared by the metrics: arrays or tensors in, 1-D float arrays out."""

from __future__ import annotations

import numpy as np
import torch

AudioLike = np.ndarray | torch.Tensor


def to_numpy(audio: AudioLike, name: str = "audio") -> np.ndarray:
    """``(T,)``, ``(1, T)`` or ``(1, 1, T)`` array/tensor -> float64 numpy ``(T,)``."""
    if isinstance(audio, torch.Tensor):
        audio = audio.detach().to("cpu", torch.float64).numpy()
    a = np.asarray(audio, dtype=np.float64)
    if a.ndim > 1:
        if any(s != 1 for s in a.shape[:-1]):
            raise ValueError(f"{name}: expected mono audio (T,) or (1, T), got shape {tuple(a.shape)}")
        a = a.reshape(-1)
    if a.ndim != 1:
        raise ValueError(f"{name}: expected mono audio (T,) or (1, T), got shape {tuple(a.shape)}")
    return a


def to_tensor(audio: AudioLike, name: str = "audio") -> torch.Tensor:
    """Like :func:`to_numpy` but returns a float32 CPU tensor ``(T,)`` (no copy when already one)."""
    if isinstance(audio, torch.Tensor):
        t = audio.detach().to("cpu", torch.float32)
        if t.dim() > 1:
            if any(s != 1 for s in t.shape[:-1]):
                raise ValueError(f"{name}: expected mono audio (T,) or (1, T), got shape {tuple(t.shape)}")
            t = t.reshape(-1)
        return t
    return torch.from_numpy(to_numpy(audio, name).astype(np.float32))


def paired_numpy(ref: AudioLike, deg: AudioLike) -> tuple[np.ndarray, np.ndarray]:
    """Both signals as float64 ``(T,)`` arrays, trimmed to the shorter one."""
    r, d = to_numpy(ref, "ref"), to_numpy(deg, "deg")
    n = min(r.shape[0], d.shape[0])
    return r[:n], d[:n]


def paired_tensors(ref: AudioLike, deg: AudioLike) -> tuple[torch.Tensor, torch.Tensor]:
    """Both signals as float32 CPU ``(T,)`` tensors, trimmed to the shorter one."""
    r, d = to_tensor(ref, "ref"), to_tensor(deg, "deg")
    n = min(r.shape[0], d.shape[0])
    return r[:n], d[:n]


def resample_np(audio: np.ndarray, orig: int, new: int) -> np.ndarray:
    """Resamples a float numpy ``(T,)`` with the project's cached kernel
    (:func:`vocoder_train.io.audio.resample`)."""
    if int(orig) == int(new):
        return audio
    from vocoder_train.io.audio import resample

    t = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32))
    return resample(t, int(orig), int(new)).numpy().astype(np.float64)
