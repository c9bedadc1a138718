"""Derived buffers: tensors a module computes from its constructor arguments (STFT windows, mel
filterbanks, (I)MDCT twiddles, CQT kernels). They are rebuilt from the config, never saved.

A checkpoint that held them would be tied to the library version that computed them: a torchaudio
that renames or recomputes one makes strict loading fail ("Unexpected key(s)
melspec_loss.mel_spec.spectrogram.window") or silently loads a stale filterbank. Our own modules
register theirs with ``persistent=False``; the third-party modules of :func:`third_party_derived`
(torchaudio's transforms, vocos' spectral ops) register theirs as persistent, and
:func:`make_transient` turns those non-persistent after construction.

Checkpoints written while they were saved still hold them: :func:`drop_derived` removes those keys
before a strict load (and warns when a saved value differs from the rebuilt one). Upstream
``vocos.Vocos`` expects them in its state dict, so :func:`vocos_state_dict` adds them back for the
files it loads.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping

import torch
from torch import nn


def third_party_derived() -> list[tuple[type, tuple[str, ...]]]:
    """(class, buffer names) of third-party modules whose config-derived buffers are persistent."""
    import torchaudio.transforms as T
    from vocos import spectral_ops

    twiddled = ("window", "pre_twiddle", "post_twiddle")
    return [
        (T.Spectrogram, ("window",)),
        (T.InverseSpectrogram, ("window",)),
        (T.GriffinLim, ("window",)),
        (T.MelScale, ("fb",)),
        (T.InverseMelScale, ("fb",)),
        (T.Resample, ("kernel",)),
        (spectral_ops.ISTFT, ("window",)),
        (spectral_ops.MDCT, twiddled),
        (spectral_ops.IMDCT, twiddled),
    ]


def _third_party_buffers(module: nn.Module) -> Iterator[tuple[str, nn.Module, str]]:
    """(state-dict key, owning module, buffer name) of every third-party derived buffer in ``module``."""
    table = third_party_derived()
    for prefix, owner in module.named_modules():
        own = dict(owner.named_buffers(recurse=False))
        for cls, names in table:
            if isinstance(owner, cls):
                for name in names:
                    if name in own:
                        yield (f"{prefix}.{name}" if prefix else name), owner, name


def make_transient(module: nn.Module) -> nn.Module:
    """Makes the third-party derived buffers in ``module`` non-persistent: they still move with
    ``.to()`` and are used as before, but ``state_dict()`` leaves them out. Returns ``module``."""
    for _, owner, name in list(_third_party_buffers(module)):
        value = getattr(owner, name)
        delattr(owner, name)
        owner.register_buffer(name, value, persistent=False)
    return module


def derived_keys(module: nn.Module) -> set[str]:
    """Keys of ``module``'s non-persistent buffers: what its checkpoints need not hold."""
    return {name for name, _ in module.named_buffers()} - set(module.state_dict())


def drop_derived(
    state: Mapping[str, torch.Tensor], module: nn.Module, prefix: str = ""
) -> dict[str, torch.Tensor]:
    """``state`` without the keys that name a derived buffer of ``module`` (its keys start with
    ``prefix``), so a checkpoint that saved them loads strictly. Warns, naming the keys, when a saved
    value differs from the rebuilt one (another torchaudio, or weights trained on another front end)."""
    derived = derived_keys(module)
    buffers = dict(module.named_buffers())
    kept, differ = {}, []
    for key, value in state.items():
        name = key[len(prefix) :] if key.startswith(prefix) else None
        if name not in derived:
            kept[key] = value
        elif not _same(value, buffers[name]):
            differ.append(key)
    if differ:
        warnings.warn(
            f"the checkpoint's saved {', '.join(differ[:4])}{' ...' if len(differ) > 4 else ''} differ "
            "from the "
            "ones rebuilt from the config (another torchaudio/vocos, or another front end); the rebuilt "
            "ones are "
            "used. Check the config's audio.* settings if the output sounds wrong",
            stacklevel=2,
        )
    return kept


def _same(saved: torch.Tensor, rebuilt: torch.Tensor) -> bool:
    if saved.shape != rebuilt.shape:
        return False
    return bool(
        torch.allclose(saved.detach().cpu().to(rebuilt.dtype), rebuilt.detach().cpu(), rtol=1e-5, atol=1e-7)
    )


def vocos_state_dict(generator: nn.Module) -> dict[str, torch.Tensor]:
    """``generator.state_dict()`` plus its third-party derived buffers: the keys upstream
    ``vocos.Vocos`` has (its spectral ops and torchaudio's transforms keep them persistent)."""
    state = dict(generator.state_dict())
    for key, owner, name in _third_party_buffers(generator):
        state.setdefault(key, getattr(owner, name))
    return state
