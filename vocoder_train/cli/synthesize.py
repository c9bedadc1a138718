"""``vocoder-synthesize``: waveforms from audio files (copy synthesis) or mel ``.npy`` files.

    vocoder-synthesize runs/demo/checkpoints/last.ckpt speech/ --output out/
    vocoder-synthesize exported/onnx mels/utt1.npy mels/utt2.npy --output out/ --chunk-seconds 2

MODEL is a training checkpoint (``.ckpt``), a vocos folder (config.yaml + pytorch_model.bin), or
a ``vocoder-export`` folder/file (safetensors, TorchScript, ONNX). Each INPUT (a file or a folder
of them) becomes ``<output>/<stem>.wav`` at the model's sample rate.

Long inputs are decoded in chunks of ``--chunk-seconds`` worth of mel frames, each with
``--context-frames`` extra frames on both sides that are decoded and then trimmed away. The
generator is local (convolutions, per-frame layer norms, an overlap-add ISTFT), so when the
context covers its receptive field (the default, computed from the model's config) the trimmed
chunks equal the one-shot output up to float rounding: trimming is exact and a crossfade would
only blur. Memory is bounded by one chunk's activations plus the output waveform.

:func:`load_vocoder` is the one loader for every model kind (``vocoder-export`` verifies its
files with it); :func:`synthesize_mel` is the chunked decoder; :func:`main` parses arguments.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import yaml

# File names inside an export folder, by format (vocoder-export writes these).
MODEL_FILES = {
    "vocos": "pytorch_model.bin",
    "safetensors": "generator.safetensors",
    "torchscript": "generator.torchscript.pt",
    "onnx": "generator.onnx",
}
MEL_EXTENSION = ".npy"
DEFAULT_CONTEXT = 32  # frames, for backbones whose receptive field is not known from the config


class InputError(ValueError):
    """An input file cannot be used. The message names the file and what the model expects."""


# -- models -----------------------------------------------------------------------------------


class Vocoder:
    """A loaded model of any kind: features ``(1, C, L)`` -> audio ``(1, T)``.

    Args:
        source (Path): the file or folder it was loaded from (for messages).
        kind (str): "checkpoint", "vocos", "safetensors", "torchscript" or "onnx".
        vocos_config (dict): the vocos ``config.yaml`` content (class_path/init_args per part).
        sample_rate (int): the model's rate in Hz.
        device (str): where decoding runs.
    """

    def __init__(self, source: Path, kind: str, vocos_config: dict, sample_rate: int, device: str = "cpu"):
        self.source, self.kind, self.config = source, kind, vocos_config
        self.sample_rate, self.device = int(sample_rate), device
        fe = _init_args(vocos_config, "feature_extractor")
        head = _init_args(vocos_config, "head")
        self.hop_length = int(
            head.get("hop_length") or head.get("mdct_frame_len", 0) // 2 or fe.get("hop_length")
        )
        self.n_fft = int(head.get("n_fft") or head.get("mdct_frame_len") or 4 * self.hop_length)
        self.padding = head.get("padding", "same")
        self.n_mels = int(fe.get("n_mels") or _init_args(vocos_config, "backbone").get("input_channels"))
        self._feature_extractor: torch.nn.Module | None = None

    def features(self, audio: torch.Tensor) -> torch.Tensor:
        """audio (1, T) at ``sample_rate`` -> features (1, C, L), on the CPU."""
        if self._feature_extractor is None:
            self._feature_extractor = self._build_feature_extractor()
        with torch.inference_mode():
            return self._feature_extractor(audio.float())

    def _build_feature_extractor(self) -> torch.nn.Module:
        from vocos.feature_extractors import MelSpectrogramFeatures

        node = self.config["feature_extractor"]
        if not str(node.get("class_path", "")).endswith("MelSpectrogramFeatures"):
            raise InputError(
                f"{self.source}: the model's feature extractor is {node.get('class_path')}; "
                f"give it precomputed features as .npy files instead of audio"
            )
        return MelSpectrogramFeatures(**node.get("init_args", {})).eval()

    def decode(self, mel: torch.Tensor) -> torch.Tensor:
        """features (B, C, L) -> audio (B, T) on the CPU."""
        raise NotImplementedError

    def receptive_context(self) -> int:
        """Context frames per side that make chunked decoding equal one-shot decoding."""
        backbone = self.config.get("backbone", {})
        if str(backbone.get("class_path", "")).endswith("VocosBackbone"):
            # embed conv and one depthwise conv per ConvNeXt block, all kernel 7 (3 frames each side).
            conv = 3 * (int(backbone.get("init_args", {}).get("num_layers", 8)) + 1)
        else:
            conv = DEFAULT_CONTEXT
        # Overlap-add: output in frame l's hop depends on the frames whose windows reach it.
        trim = (self.n_fft - self.hop_length) // 2 if self.padding == "same" else self.n_fft // 2
        ola = math.ceil(max(trim, self.n_fft - trim - self.hop_length) / self.hop_length)
        # ConsistencyISTFTHead's refinement iterations and the mel projection's passes: each is an
        # ISTFT + STFT round trip, which reaches the frames whose windows overlap (n_fft / hop - 1 per side)
        round_trips = self.round_trips()
        spread = math.ceil(self.n_fft / self.hop_length) - 1
        return conv + ola + round_trips * spread + (1 if round_trips else 0)

    def round_trips(self) -> int:
        """ISTFT + STFT round trips after the network (none in the graph exports, which refuse them)."""
        return 0


ENGINES = ("fused", "eager", "fused-bf16")


class TorchVocoder(Vocoder):
    """A ``VocosGenerator`` (checkpoint, vocos folder or safetensors export).

    ``engine``: "fused" (default) decodes with :class:`~vocoder_train.models.inference.fused.FusedVocos`
    (same output to float rounding, ~1.1x `Vocos.decode` on CPU), "fused-bf16" also runs its pointwise
    products in bfloat16 (~1.9x where bf16 is native; max abs difference ~1e-4), "eager" calls the
    generator itself. Generators the fused path does not cover (IMDCT heads, adanorm) decode eagerly.
    """

    def __init__(
        self,
        generator: torch.nn.Module,
        source: Path,
        kind: str,
        vocos_config: dict,
        sample_rate: int,
        device: str = "cpu",
        engine: str = "fused",
    ):
        super().__init__(source, kind, vocos_config, sample_rate, device)
        if engine not in ENGINES:
            raise ValueError(f"engine={engine!r}: choose one of {', '.join(ENGINES)}")
        self.generator = generator.to(device).eval()
        self._feature_extractor = self.generator.feature_extractor
        self.engine, self.fused = "eager", None
        if engine != "eager":
            from vocoder_train.hardware import bf16_matmul_is_fast
            from vocoder_train.models.inference.fused import FusedVocos, FusionUnsupported

            bf16 = engine == "fused-bf16"
            if bf16 and not bf16_matmul_is_fast(device):
                warnings.warn(f"--engine fused-bf16: {device} has no native bf16 matrix products; it will be slower", stacklevel=2)
            try:
                self.fused = FusedVocos(self.generator, torch.bfloat16 if bf16 else torch.float32).to(device).eval()
                self.engine = engine
            except FusionUnsupported as e:
                if engine == "fused-bf16":
                    warnings.warn(f"--engine fused-bf16 is not available for {source} ({e}); decoding eagerly", stacklevel=2)

    def features(self, audio: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return self.generator.features(audio.to(self.device)).cpu()

    def round_trips(self) -> int:
        # from the modules themselves: a config may leave refine_iters at the head's default
        return int(getattr(self.generator.head, "refine_iters", 0)) + int(getattr(self.generator, "mel_passes", 0))

    def decode(self, mel: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            if self.fused is not None:
                return self.fused(mel.to(self.device)).cpu()
            return self.generator.synthesize(mel.to(self.device)).float().cpu()


class TorchScriptVocoder(Vocoder):
    """A traced ``ExportableVocos`` (mel -> waveform)."""

    def __init__(self, file: Path, vocos_config: dict, sample_rate: int, device: str = "cpu"):
        super().__init__(file, "torchscript", vocos_config, sample_rate, device)
        with warnings.catch_warnings():
            warnings.simplefilter(
                "ignore", FutureWarning
            )  # torch.jit is deprecated but still supported in 2.14
            self.module = torch.jit.load(str(file), map_location=device).eval()

    def decode(self, mel: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return self.module(mel.to(self.device).float()).cpu()


class OnnxVocoder(Vocoder):
    """An ONNX ``ExportableVocos`` run with onnxruntime."""

    def __init__(self, file: Path, vocos_config: dict, sample_rate: int, device: str = "cpu"):
        import onnxruntime as ort

        super().__init__(file, "onnx", vocos_config, sample_rate, device)
        providers = ["CPUExecutionProvider"]
        if device.startswith("cuda"):
            if "CUDAExecutionProvider" not in ort.get_available_providers():
                raise RuntimeError(f"{file}: --device {device} needs onnxruntime-gpu (CUDAExecutionProvider)")
            providers.insert(0, "CUDAExecutionProvider")
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        # ONNX Runtime's pool spin-waits after each run by default, slowing the torch feature
        # extraction and file I/O that run between chunks on the same cores
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(file), sess_options=opts, providers=providers)
        self.input_name = self.session.get_inputs()[0].name

    def decode(self, mel: torch.Tensor) -> torch.Tensor:
        (audio,) = self.session.run(None, {self.input_name: mel.detach().float().cpu().numpy()})
        return torch.from_numpy(audio)


def _init_args(vocos_config: dict, part: str) -> dict:
    return (vocos_config.get(part) or {}).get("init_args") or {}


def _read_config(folder: Path) -> dict:
    path = folder / "config.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing; an export folder holds config.yaml next to the model file")
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


def _safetensors_config(file: Path) -> dict | None:
    """The vocos config vocoder-export stores in a safetensors file's metadata (None if absent)."""
    from safetensors import safe_open

    with safe_open(str(file), framework="pt") as f:
        meta = f.metadata() or {}
    return json.loads(meta["config"]) if "config" in meta else None


def _sample_rate(vocos_config: dict, source: Path) -> int:
    sr = vocos_config.get("sample_rate") or _init_args(vocos_config, "feature_extractor").get("sample_rate")
    if not sr:
        raise ValueError(f"{source}: config has no sample_rate (top level or feature_extractor.init_args)")
    return int(sr)


def _model_kind(path: Path) -> tuple[str, Path]:
    """(kind, file) for a model path: a folder is looked into, a file is recognised by its name."""
    if path.is_dir():
        for kind, name in MODEL_FILES.items():
            if (path / name).is_file():
                return kind, path / name
        raise FileNotFoundError(
            f"{path}: no model in this folder (looked for {', '.join(MODEL_FILES.values())})"
        )
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such model file or folder")
    name = path.name.lower()
    if name.endswith(".onnx"):
        return "onnx", path
    if name.endswith(".safetensors"):
        return "safetensors", path
    if name.endswith((".torchscript.pt", ".ts", ".jit")):
        return "torchscript", path
    if name == MODEL_FILES["vocos"]:
        return "vocos", path
    return "checkpoint", path


def load_vocoder(path: str | Path, device: str = "cpu", ema: bool = False, engine: str = "fused") -> Vocoder:
    """Loads any model kind :mod:`vocoder_train` writes or reads (see the module docstring).
    ``engine`` applies to PyTorch weights (checkpoint, vocos, safetensors): see :class:`TorchVocoder`."""
    from vocoder_train.io.checkpoint import load_checkpoint
    from vocoder_train.models.generator import (
        build_generator,
        from_vocos_config,
        generator_config_from_checkpoint,
        load_generator,
        load_vocos_folder,
        to_vocos_config,
    )

    kind, file = _model_kind(Path(path))
    if ema and kind != "checkpoint":
        raise ValueError(
            f"{path}: --ema needs a training checkpoint (.ckpt); a {kind} export holds one set of weights"
        )
    if kind == "checkpoint":
        gen, sr = load_generator(file, map_location=device, ema=ema)
        cfg = to_vocos_config(generator_config_from_checkpoint(load_checkpoint(file), file), sr)
        return TorchVocoder(gen, file, kind, cfg, sr, device, engine)
    cfg = (
        _safetensors_config(file)
        if kind == "safetensors" and not (file.parent / "config.yaml").is_file()
        else None
    )
    cfg = cfg or _read_config(file.parent)
    if kind == "vocos":
        gen, sr = load_vocos_folder(file.parent, map_location=device)
        return TorchVocoder(gen, file.parent, kind, cfg, sr, device, engine)
    sr = _sample_rate(cfg, file)
    if kind == "safetensors":
        gen = build_generator(from_vocos_config(cfg))
        state = load_checkpoint(file, map_location=device)
        missing, unexpected = gen.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise ValueError(
                f"{file}: does not match config.yaml (missing {missing[:5]}, unexpected {unexpected[:5]})"
            )
        return TorchVocoder(gen, file, kind, cfg, sr, device, engine)
    if kind == "torchscript":
        return TorchScriptVocoder(file, cfg, sr, device)
    return OnnxVocoder(file, cfg, sr, device)


# -- chunked decoding -------------------------------------------------------------------------


@dataclass
class SynthesisTiming:
    """Wall-clock seconds of one :func:`synthesize_mel` call."""

    total_s: float
    first_chunk_s: float
    chunks: int


def synthesize_mel(
    vocoder: Vocoder, mel: torch.Tensor, chunk_frames: int = 0, context_frames: int | None = None
) -> tuple[torch.Tensor, SynthesisTiming]:
    """features (1, C, L) -> audio (1, T), decoded in chunks of ``chunk_frames`` (0: one shot).

    Chunk ``[s, e)`` is decoded with ``context_frames`` frames of the neighbours on each side
    (``None``: :meth:`Vocoder.receptive_context`) and its samples ``[s * hop, e * hop)`` are kept:
    output sample ``i`` of a decode that starts at frame ``s0`` is global sample ``s0 * hop + i``
    for both "same" and "center" heads.
    """
    n_frames, hop = mel.shape[-1], vocoder.hop_length
    ctx = vocoder.receptive_context() if context_frames is None else int(context_frames)
    if vocoder.padding == "center":
        ctx = max(ctx, 1)  # a "center" decode of n frames ends one hop early; a frame beyond e covers it
    start = time.perf_counter()
    if chunk_frames <= 0 or n_frames <= chunk_frames:
        audio = vocoder.decode(mel)
        elapsed = time.perf_counter() - start
        return audio, SynthesisTiming(elapsed, elapsed, 1)
    pieces, first = [], 0.0
    for s in range(0, n_frames, chunk_frames):
        e = min(n_frames, s + chunk_frames)
        s0, e0 = max(0, s - ctx), min(n_frames, e + ctx)
        out = vocoder.decode(mel[..., s0:e0])
        stop = out.shape[-1] if e == n_frames else (e - s0) * hop
        pieces.append(out[..., (s - s0) * hop : stop])
        if not first:
            first = time.perf_counter() - start
    return torch.cat(pieces, dim=-1), SynthesisTiming(time.perf_counter() - start, first, len(pieces))


# -- inputs -----------------------------------------------------------------------------------


LIST_EXTENSIONS = (".jsonl", ".txt", ".lst")


def collect_inputs(inputs: Sequence[str | Path]) -> list[Path]:
    """Files given, audio / .npy files found (recursively) in folders given, and the files listed
    in manifests (``.jsonl`` from vocoder-prepare) or filelists (``.txt``/``.lst``), in order."""
    from vocoder_train.data.manifest import ManifestError, read_manifest
    from vocoder_train.io.audio import is_audio_file

    files: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            found = sorted(
                p for p in item.rglob("*") if p.is_file() and (is_audio_file(p) or p.suffix == MEL_EXTENSION)
            )
            if not found:
                raise InputError(f"{item}: no audio or {MEL_EXTENSION} files in this folder")
            files.extend(found)
        elif item.is_file() and item.suffix.lower() in LIST_EXTENSIONS:
            try:
                files.extend(Path(entry["path"]) for entry in read_manifest(item))
            except ManifestError as e:
                raise InputError(str(e)) from e
        elif item.is_file():
            files.append(item)
        else:
            raise InputError(f"{item}: no such file or folder")
    return files


def read_mel(path: Path, n_mels: int) -> torch.Tensor:
    """A mel ``.npy`` of shape (n_mels, L) or (1, n_mels, L) -> float32 tensor (1, n_mels, L)."""
    try:
        arr = np.load(path, allow_pickle=False)  # a .npy is untrusted input too
    except Exception as e:
        raise InputError(f"{path}: not a readable .npy array ({e})") from e
    if arr.ndim == 3 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 2 or not np.issubdtype(arr.dtype, np.number):
        raise InputError(
            f"{path}: mel has shape {arr.shape} ({arr.dtype}); expected ({n_mels}, frames) or (1, {n_mels}, frames)"
        )
    if arr.shape[0] != n_mels:
        hint = "; it looks transposed: save it as (n_mels, frames)" if arr.shape[1] == n_mels else ""
        raise InputError(
            f"{path}: mel has {arr.shape[0]} bins (shape {arr.shape}); the model expects {n_mels}{hint}"
        )
    if arr.shape[1] == 0 or not np.isfinite(arr).all():
        raise InputError(f"{path}: mel is empty or has NaN/inf values")
    return torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32))[None]


def read_input(path: Path, vocoder: Vocoder) -> tuple[torch.Tensor, int | None]:
    """(features (1, C, L), length to trim the output to) of an audio file or a mel .npy.

    Audio is resampled to the model's rate and its copy synthesis is trimmed to the resampled
    length (the head gives whole frames); a mel's output keeps every frame (length None).
    """
    from vocoder_train.io.audio import AudioReadError, is_audio_file, load_audio

    if path.suffix.lower() == MEL_EXTENSION:
        return read_mel(path, vocoder.n_mels), None
    if not is_audio_file(path):
        raise InputError(f"{path}: neither audio (wav/flac/mp3/...) nor a mel {MEL_EXTENSION} file")
    try:
        audio, _ = load_audio(path, sample_rate=vocoder.sample_rate)
    except AudioReadError as e:
        raise InputError(str(e)) from e
    if audio.shape[-1] < vocoder.hop_length:
        raise InputError(f"{path}: {audio.shape[-1]} samples; shorter than one frame ({vocoder.hop_length})")
    return vocoder.features(audio), audio.shape[-1]


# -- command line -----------------------------------------------------------------------------


def synthesize_files(
    vocoder: Vocoder,
    files: Sequence[Path],
    output: Path,
    chunk_seconds: float = 10.0,
    context_frames: int | None = None,
    log=print,
) -> dict:
    """Writes ``output/<stem>.wav`` per file. Returns per-file rows, failures and totals."""
    from tqdm import tqdm

    from vocoder_train.io.audio import save_audio
    from vocoder_train.models.generator import match_length

    targets: dict[Path, Path] = {}
    for f in files:
        dst = output / f"{f.stem}.wav"
        if dst in targets:
            raise InputError(
                f"{targets[dst]} and {f} would both be written to {dst}; rename one or run them separately"
            )
        targets[dst] = f
    chunk_frames = (
        max(1, round(chunk_seconds * vocoder.sample_rate / vocoder.hop_length)) if chunk_seconds > 0 else 0
    )
    rows, failed = [], []
    for dst, src in tqdm(targets.items(), desc="synthesize", unit="file", disable=len(targets) < 2):
        t0 = time.perf_counter()
        try:
            mel, length = read_input(src, vocoder)
        except InputError as e:
            failed.append({"path": str(src), "error": str(e)})
            tqdm.write(f"error: {e}", file=sys.stderr)
            continue
        feat_s = time.perf_counter() - t0
        audio, timing = synthesize_mel(vocoder, mel, chunk_frames, context_frames)
        if length is not None:
            audio = match_length(audio, length)
        save_audio(dst, audio[0], vocoder.sample_rate)
        audio_s = audio.shape[-1] / vocoder.sample_rate
        wall_s = feat_s + timing.total_s
        rows.append(
            dict(
                path=str(src),
                output=str(dst),
                audio_s=audio_s,
                wall_s=wall_s,
                chunks=timing.chunks,
                first_chunk_s=timing.first_chunk_s,
            )
        )
        tqdm.write(
            f"{dst.name}: {audio_s:.2f} s of audio in {wall_s:.3f} s wall (read + features + decode) = "
            f"{audio_s / wall_s:.1f}x real time "
            f"(audio s / wall s; RTF wall/audio {wall_s / audio_s:.4f}), {timing.chunks} chunk(s), "
            f"first-chunk latency {1e3 * timing.first_chunk_s:.1f} ms"
        )
    audio_total, wall_total = sum(r["audio_s"] for r in rows), sum(r["wall_s"] for r in rows)
    return {"files": rows, "failed": failed, "audio_s": audio_total, "wall_s": wall_total}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="vocoder-synthesize",
        description="Synthesize waveforms with a trained vocoder, from audio files (copy synthesis) or mel .npy files.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="""examples:
  vocoder-synthesize runs/demo/checkpoints/last.ckpt corpus/val/ --output out/
  vocoder-synthesize exported/vocos speech.flac --output out/ --device cuda
  vocoder-synthesize exported/onnx tts_mels/ --output out/ --chunk-seconds 1   # mels: (n_mels, frames) .npy

MODEL: a training checkpoint (.ckpt), a vocos folder (config.yaml + pytorch_model.bin), or a
vocoder-export folder / file (generator.safetensors, generator.torchscript.pt, generator.onnx,
with config.yaml beside it). Audio inputs are resampled to the model's rate; mel inputs must
have the model's number of bins. Speed is printed as audio seconds / wall seconds ("x real
time", higher is faster) and as RTF = wall / audio (lower is faster).""",
    )
    p.add_argument("model", help="checkpoint, vocos folder, or vocoder-export folder/file")
    p.add_argument(
        "inputs",
        nargs="+",
        metavar="INPUT",
        help="audio (wav/flac/mp3/...) or mel .npy files, or folders of them",
    )
    p.add_argument("-o", "--output", required=True, help="folder for <stem>.wav outputs (created if missing)")
    p.add_argument(
        "--chunk-seconds",
        type=float,
        default=10.0,
        help="decode long inputs in chunks of this many seconds of frames (0: one shot; default 10)",
    )
    p.add_argument(
        "--context-frames",
        type=int,
        default=None,
        help="frames of context decoded and dropped on each side of a chunk (default: the model's receptive field)",
    )
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1 ... (default cpu)")
    p.add_argument("--ema", action="store_true", help="use the EMA weights of a training checkpoint")
    p.add_argument(
        "--engine",
        choices=ENGINES,
        default="fused",
        help="PyTorch weights only: fused (default; same output, fewer memory passes), fused-bf16 "
        "(bf16 pointwise products, ~1.9x on CPUs with native bf16, ~1e-4 max abs difference), or eager",
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    from vocoder_train.config.runtime import setup

    setup()
    args = build_parser().parse_args(argv)
    try:
        t0 = time.perf_counter()
        vocoder = load_vocoder(args.model, device=args.device, ema=args.ema, engine=args.engine)
        print(
            f"model: {vocoder.source} ({vocoder.kind}{', ' + vocoder.engine if isinstance(vocoder, TorchVocoder) else ''}), {vocoder.sample_rate} Hz, hop {vocoder.hop_length}, "
            f"{vocoder.n_mels} mels, loaded in {time.perf_counter() - t0:.2f} s"
        )
        files = collect_inputs(args.inputs)
        vocoder.decode(
            torch.zeros(1, vocoder.n_mels, 8)
        )  # warm-up, so the first file's figures are not one-time setup
        result = synthesize_files(vocoder, files, Path(args.output), args.chunk_seconds, args.context_frames)
    except (InputError, FileNotFoundError, ValueError, RuntimeError) as e:
        print(f"vocoder-synthesize: error: {e}", file=sys.stderr)
        return 1
    n_ok, audio_s, wall_s = len(result["files"]), result["audio_s"], result["wall_s"]
    if n_ok:
        print(
            f"total: {n_ok} file(s), {audio_s:.2f} s of audio in {wall_s:.3f} s wall = {audio_s / wall_s:.1f}x "
            f"real time (audio s / wall s; RTF wall/audio {wall_s / audio_s:.4f}) -> {args.output}"
        )
    if result["failed"]:
        print(
            f"vocoder-synthesize: {len(result['failed'])} input(s) failed:\n"
            + "\n".join(f"  {f['error']}" for f in result["failed"]),
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
