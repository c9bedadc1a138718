"""Vocoders that run a traced graph: a TorchScript export, an ONNX export run with ONNX Runtime, and an
ONNX streaming step (:func:`~vocoder_train.models.vocoder.load_vocoder` picks one by the model's kind).
A graph of a conditioned model (vocos' EnCodec model) takes the bandwidth id as a second input.
"""

from __future__ import annotations

from pathlib import Path

import torch

from vocoder_train.io.checkpoint import load_torchscript
from vocoder_train.models.stored_config import ModelError
from vocoder_train.models.vocoder import Vocoder


class TorchScriptVocoder(Vocoder):
    """A traced ``ExportableVocos`` (mel -> waveform)."""

    def __init__(self, file: Path, vocos_config: dict, sample_rate: int, device: str = "cpu"):
        super().__init__(file, "torchscript", vocos_config, sample_rate, device)
        self.module = load_torchscript(file, map_location=device)

    def decode(self, mel: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            if self.conditions:
                return self.module(mel.to(self.device).float(), self._condition_input().to(self.device)).cpu()
            return self.module(mel.to(self.device).float()).cpu()


def onnx_session(file: str | Path, device: str = "cpu", threads: int | None = None):
    """An ``onnxruntime.InferenceSession`` for ``file`` on ``device`` (cuda needs onnxruntime-gpu), with
    ``threads`` intra-op threads (None: ONNX Runtime's default, one per physical core)."""
    import onnxruntime as ort

    providers = ["CPUExecutionProvider"]
    if device.startswith("cuda"):
        if "CUDAExecutionProvider" not in ort.get_available_providers():
            raise ModelError(f"{file}: running on {device} needs onnxruntime-gpu (CUDAExecutionProvider)")
        providers.insert(0, "CUDAExecutionProvider")
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    if threads:
        opts.intra_op_num_threads = int(threads)
    # ONNX Runtime's pool spin-waits after each run by default, slowing the torch feature
    # extraction and file I/O that run between chunks on the same cores
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(file), sess_options=opts, providers=providers)


class OnnxVocoder(Vocoder):
    """An ONNX ``ExportableVocos`` run with onnxruntime, on as many threads as PyTorch uses
    (``torch.set_num_threads`` before loading sets both)."""

    def __init__(self, file: Path, vocos_config: dict, sample_rate: int, device: str = "cpu"):
        super().__init__(file, "onnx", vocos_config, sample_rate, device)
        self.session = onnx_session(file, device, threads=torch.get_num_threads())
        self.input_name = self.session.get_inputs()[0].name

    def decode(self, mel: torch.Tensor) -> torch.Tensor:
        feeds = {self.input_name: mel.detach().float().cpu().numpy()}
        if self.conditions:
            feeds["bandwidth_id"] = self._condition_input().numpy()
        (audio,) = self.session.run(None, feeds)
        return torch.from_numpy(audio)


class StreamingOnnxVocoder(Vocoder):
    """An ``onnx-stream`` export (a causal generator's streaming step) run with onnxruntime: ``stream()``
    carries its state exactly; ``decode(mel)`` is one push of every frame and the flush."""

    def __init__(self, file: Path, vocos_config: dict, sample_rate: int, device: str = "cpu"):
        super().__init__(file, "onnx-stream", vocos_config, sample_rate, device)
        self.session = onnx_session(file, device, threads=torch.get_num_threads())

    def stream(self, lookahead: int | None = None):
        from vocoder_train.dsp import causal_latency
        from vocoder_train.models.inference.stream_step import onnx_initial_state, onnx_step
        from vocoder_train.models.inference.streaming import CarriedStateStreamer

        if lookahead is not None:
            raise ModelError(
                f"{self.source}: a streaming export streams exactly with no look-ahead "
                f"(lookahead={lookahead} given)"
            )
        return CarriedStateStreamer(
            onnx_step(self.session),
            onnx_initial_state(self.session),
            self.hop_length,
            self.sample_rate,
            causal_latency(self.n_fft, self.hop_length),
        )

    def decode(self, mel: torch.Tensor) -> torch.Tensor:
        streamer = self.stream()
        return torch.cat([streamer.push(mel.detach().float().cpu()), streamer.flush()], dim=-1)
