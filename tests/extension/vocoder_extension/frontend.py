"""A feature front end that is not a mel: the log-magnitude linear spectrogram."""

from __future__ import annotations

import torch
from vocos.feature_extractors import FeatureExtractor


class LinearSpectrogramFeatures(FeatureExtractor):
    """audio (B, T) -> log |STFT| (B, n_fft // 2 + 1, T // hop_length + 1), centred frames."""

    def __init__(self, n_fft: int, hop_length: int, floor: float = 1e-5):
        super().__init__()
        self.n_fft, self.hop_length, self.floor = n_fft, hop_length, floor
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)

    def forward(self, audio: torch.Tensor, **kwargs) -> torch.Tensor:
        spec = torch.stft(audio, self.n_fft, self.hop_length, window=self.window, return_complex=True)
        return spec.abs().clamp(min=self.floor).log()

    @classmethod
    def frame_layout(cls, node) -> tuple[int, int]:
        """(hop length, channels) of the features: what the generator's head and backbone must take."""
        return node.get("hop_length"), node.get("n_fft") // 2 + 1

    @classmethod
    def config_problems(cls, node, key: str, cfg) -> list[str]:
        n_fft, hop = node.get("n_fft"), node.get("hop_length")
        if isinstance(n_fft, int) and isinstance(hop, int) and hop > n_fft // 2:
            return [f"{key}.hop_length={hop} > n_fft / 2 = {n_fft // 2}: frames would not overlap"]
        return []
