"""UTMOS (predicted MOS) from local weights only: no download at run time.

Point ``validation.utmos`` (training) at a TorchScript file of a MOS predictor that maps 16 kHz
waveforms ``(B, T)`` to scores ``(B,)``, e.g. the UTMOS22 strong learner exported with
``torch.jit.trace`` from its reference implementation. Without a path the metric is skipped with
a one-line notice. A TorchScript archive holds TorchScript code and weights, not pickled Python
objects; load only files you made or trust.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from vocoder_train.io.audio import resample
from vocoder_train.io.checkpoint import CheckpointError, load_torchscript

log = logging.getLogger(__name__)
UTMOS_RATE = 16000


class UTMOSScorer:
    """Scores waveforms with a local TorchScript MOS model. ``score(audio (B, T), sample_rate) -> (B,)``."""

    def __init__(self, path: str | Path, device: str | torch.device = "cpu"):
        p = Path(path).expanduser()
        if not p.is_file():
            raise FileNotFoundError(f"validation.utmos={p}: no such TorchScript file")
        try:
            self.model = load_torchscript(p, map_location=device)
        except CheckpointError as e:
            raise ValueError(f"validation.utmos={p}: {e}") from e
        self.device = torch.device(device)

    @torch.no_grad()
    def score(self, audio: torch.Tensor, sample_rate: int) -> torch.Tensor:
        wav = resample(audio.float(), sample_rate, UTMOS_RATE).to(self.device)
        return self.model(wav).reshape(-1).float().cpu()


def load_utmos(path: str | Path | None, device: str | torch.device = "cpu") -> UTMOSScorer | None:
    """The scorer, or None with a one-line notice when no local weights are configured."""
    if not path:
        log.info("UTMOS skipped: no local weights (set validation.utmos=/path/to/utmos.torchscript.pt)")
        return None
    return UTMOSScorer(path, device)
