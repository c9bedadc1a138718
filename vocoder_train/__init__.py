"""vocoder_train: train, fine-tune and export Vocos neural vocoders.

The Python API (:mod:`vocoder_train.api`) is loaded on first use, so ``import vocoder_train``
imports no torch and changes no process-wide state::

    import vocoder_train as vt

    vocoder = vt.load_vocoder("runs/demo/checkpoints/last.ckpt")  # any model kind, any export
    audio = vocoder.decode(mel)                                    # (B, n_mels, L) -> (B, T)
    vt.copy_synthesize(vocoder, "speech.wav", "resynth.wav")
    metrics = vt.train(["experiment=demo", "trainer.max_steps=200"])
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
_API = ("Vocoder", "copy_synthesize", "evaluate", "export", "load_vocoder", "synthesize_files", "train")
__all__ = ["__version__", *_API]


def __getattr__(name: str) -> Any:
    if name in _API:
        from vocoder_train import api

        return getattr(api, name)
    raise AttributeError(f"module 'vocoder_train' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_API})
