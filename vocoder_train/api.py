"""The Python API: what the console scripts do, as functions.

    import vocoder_train as vt

    vocoder = vt.load_vocoder("runs/demo/checkpoints/last.ckpt")  # or a vocos folder, safetensors,
    TorchScript, ONNX
    audio = vocoder.decode(mel)                                    # mel (B, n_mels, L) -> audio (B, T), CPU
    tensors (a model on precomputed features decodes those: (B, channels, L))
    streamer = vocoder.stream()                                    # causal models; others:
    stream(lookahead=K)
    audio = torch.cat([streamer.push(mel[..., :4]), streamer.push(mel[..., 4:]), streamer.flush()], dim=-1)
    vt.copy_synthesize(vocoder, "speech.wav", "resynth.wav")      # audio -> mel -> audio, at the model's rate
    vt.evaluate("exported/onnx", "data/val.jsonl", "eval/")        # metrics.json, metrics.csv, report.md
    vt.evaluate(["a/last.ckpt", "b/last.ckpt"], "data/val.jsonl", "ab/")  # A/B report, + Griffin-Lim
    metrics = vt.train(["experiment=demo", "trainer.max_steps=200"])

Each function applies :func:`vocoder_train.config.runtime.setup` first, as the console scripts
do; importing the package applies nothing. Models are loaded by :mod:`vocoder_train.models.store`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from vocoder_train.config.runtime import setup
from vocoder_train.evaluation.baselines import GRIFFIN_LIM_ITERS, GriffinLimBaseline
from vocoder_train.evaluation.compare import Comparison, System, compare_files
from vocoder_train.evaluation.copy_synthesis import EvalResult, EvalSettings, evaluate_files
from vocoder_train.evaluation.timing import stream_figures, stream_mel
from vocoder_train.models.causal import causal_context
from vocoder_train.models.export import ExportResult, export
from vocoder_train.models.inference.chunked import SynthesisTiming, chunk_frames, synthesize_mel
from vocoder_train.models.vocoder import Vocoder
from vocoder_train.models.vocoder import load_vocoder as _load_vocoder

MEL_EXTENSION = ".npy"
LIST_EXTENSIONS = (".jsonl", ".txt", ".lst")
__all__ = [
    "Comparison",
    "EvalResult",
    "ExportResult",
    "InputError",
    "Vocoder",
    "collect_inputs",
    "copy_synthesize",
    "evaluate",
    "export",
    "load_vocoder",
    "synthesize_file",
    "synthesize_files",
    "train",
]


class InputError(ValueError):
    """An input file cannot be used. The message names the file and what the model expects."""


def load_vocoder(path: str | Path, device: str = "cpu", ema: bool = False, engine: str = "auto") -> Vocoder:
    """Any model vocoder_train reads or writes (see :mod:`vocoder_train.models.store`) as a
    :class:`~vocoder_train.models.vocoder.Vocoder`: ``decode(mel)``, ``features(audio)``, ``sample_rate``,
    ``hop_length``, ``n_mels``. ``ema``: a checkpoint's EMA weights; ``engine``: auto (default), fused,
    fused-bf16 or eager."""
    setup()
    return _load_vocoder(path, device=device, ema=ema, engine=engine)


def _vocoder(model: Vocoder | str | Path, device: str = "cpu") -> Vocoder:
    return model if isinstance(model, Vocoder) else load_vocoder(model, device)


# -- synthesis of files ----------------------------------------------------------------------------


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


def read_input(path: Path, vocoder: Vocoder) -> tuple[torch.Tensor, int | None]:
    """(features (1, C, L), length to trim the output to) of an audio file or a features .npy (a mel, or
    the precomputed features of a model that takes them; its channel count checked against the model).

    Audio is resampled to the model's rate and its copy synthesis is trimmed to the resampled
    length (the head gives whole frames); a .npy's output keeps every frame (length None).
    """
    from vocoder_train.data.pair_dataset import PairMismatchError, load_features
    from vocoder_train.data.pair_kinds import FEATURES, MEL
    from vocoder_train.io.audio import AudioReadError, is_audio_file, load_audio
    from vocoder_train.models.stored_config import ModelError

    path, kind = Path(path), MEL if vocoder.takes_audio else FEATURES
    if path.suffix.lower() == MEL_EXTENSION and vocoder.bandwidths:
        return _read_codes(path, vocoder), None
    if path.suffix.lower() == MEL_EXTENSION:
        try:
            x = load_features(path, vocoder.n_mels, kind=kind)
        except PairMismatchError as e:
            raise InputError(str(e)) from e
        if x.shape[1] == 0:
            raise InputError(f"{path}: {kind.item} has no frames")
        return torch.from_numpy(x.astype("float32", copy=True))[None], None
    if not vocoder.takes_audio:
        raise InputError(
            f"{path}: this model synthesizes from precomputed features ({vocoder.n_mels} channels, a frame "
            f"every {vocoder.hop_length} samples), not audio: give their (channels, frames) "
            f"{MEL_EXTENSION} files"
        )
    if not is_audio_file(path):
        raise InputError(f"{path}: neither audio (wav/flac/mp3/...) nor a mel {MEL_EXTENSION} file")
    try:
        audio, _ = load_audio(path, sample_rate=vocoder.sample_rate)
        if audio.shape[-1] < vocoder.hop_length:
            raise InputError(
                f"{path}: {audio.shape[-1]} samples; shorter than one frame ({vocoder.hop_length})"
            )
        return vocoder.features(audio), audio.shape[-1]
    except (AudioReadError, ModelError) as e:
        raise InputError(str(e)) from e


def _read_codes(path: Path, vocoder: Vocoder) -> torch.Tensor:
    """A codec model's input .npy: EnCodec codes (codebooks, frames) of integers at the vocoder's bandwidth,
    or their (channels, frames) float features; (1, C, L) features either way."""
    import numpy as np

    from vocoder_train.models.stored_config import ModelError

    try:
        x = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise InputError(f"{path}: not a readable .npy ({e})") from e
    if x.ndim != 2 or x.shape[1] == 0:
        raise InputError(f"{path}: shape {x.shape}; expected codes (codebooks, frames) with frames > 0")
    if np.issubdtype(x.dtype, np.floating):
        if x.shape[0] != vocoder.n_mels:
            raise InputError(
                f"{path}: float array of {x.shape[0]} channels: give codes (integers) or "
                f"{vocoder.n_mels}-channel features"
            )
        return torch.from_numpy(x.astype("float32"))[None]
    try:
        return vocoder.codes_to_features(torch.from_numpy(x.astype("int64")))
    except ModelError as e:
        raise InputError(f"{path}: {e}") from e


def synthesize_file(
    vocoder: Vocoder,
    src: str | Path,
    dst: str | Path | None = None,
    chunk_seconds: float = 10.0,
    context_frames: int | None = None,
    *,
    stream_frames: int = 0,
    lookahead: int | None = None,
) -> tuple[torch.Tensor, dict]:
    """Audio file (copy synthesis) or features .npy -> (audio (1, T), timing row); written to ``dst``
    (WAV at the model's rate) when given. Raises :class:`InputError` for an unusable input.

    ``stream_frames`` > 0: decoded through ``vocoder.stream(lookahead)`` in chunks of that many frames;
    the row gains the streaming figures (:func:`~vocoder_train.evaluation.timing.stream_figures`).
    A causal model's chunked decode also goes through its streamer, which is exact."""
    from vocoder_train.io.audio import save_audio
    from vocoder_train.models.generator import match_length

    t0 = time.perf_counter()
    mel, length = read_input(Path(src), vocoder)
    feat_s = time.perf_counter() - t0
    frames = stream_frames or (
        chunk_frames(vocoder, chunk_seconds) if causal_context(vocoder.config) is not None else 0
    )
    if frames:
        streamer = vocoder.stream(lookahead)
        audio, stream_timing = stream_mel(streamer, mel, frames)
        timing = SynthesisTiming(stream_timing.total_s, stream_timing.first_audio_s, stream_timing.chunks)
    else:
        audio, timing = synthesize_mel(vocoder, mel, chunk_frames(vocoder, chunk_seconds), context_frames)
    if length is not None:
        audio = match_length(audio, length)
    if dst is not None:
        save_audio(dst, audio[0], vocoder.sample_rate)
    row = dict(
        path=str(src),
        output=str(dst),
        audio_s=audio.shape[-1] / vocoder.sample_rate,
        wall_s=feat_s + timing.total_s,
        chunks=timing.chunks,
        first_chunk_s=timing.first_chunk_s,
    )
    if stream_frames:
        row.update(
            stream_figures(
                streamer,
                stream_timing,
                mel.shape[-1] * vocoder.hop_length / vocoder.sample_rate,
                stream_frames,
            )
        )
    return audio, row


def output_paths(files: Sequence[Path], output: Path) -> dict[Path, Path]:
    """``output/<stem>.wav`` -> input file; raises :class:`InputError` when two inputs share a stem."""
    targets: dict[Path, Path] = {}
    for f in files:
        dst = Path(output) / f"{Path(f).stem}.wav"
        if dst in targets:
            raise InputError(
                f"{targets[dst]} and {f} would both be written to {dst}; rename one or run them separately"
            )
        targets[dst] = Path(f)
    return targets


def synthesize_files(
    vocoder: Vocoder,
    files: Sequence[Path],
    output: str | Path,
    chunk_seconds: float = 10.0,
    context_frames: int | None = None,
    on_file: Callable[[dict], None] | None = None,
    *,
    stream_frames: int = 0,
    lookahead: int | None = None,
) -> dict:
    """Writes ``output/<stem>.wav`` per file. Returns per-file rows, failures (path, error) and totals;
    ``on_file`` is called with each row or failure as it is done. ``stream_frames``, ``lookahead``:
    as :func:`synthesize_file`."""
    rows, failed = [], []
    for dst, src in output_paths(files, Path(output)).items():
        try:
            result = synthesize_file(
                vocoder,
                src,
                dst,
                chunk_seconds,
                context_frames,
                stream_frames=stream_frames,
                lookahead=lookahead,
            )[1]
            rows.append(result)
        except InputError as e:
            result = {"path": str(src), "error": str(e)}
            failed.append(result)
        if on_file is not None:
            on_file(result)
    audio_s, wall_s = sum(r["audio_s"] for r in rows), sum(r["wall_s"] for r in rows)
    return {"files": rows, "failed": failed, "audio_s": audio_s, "wall_s": wall_s}


def copy_synthesize(
    model: Vocoder | str | Path,
    audio_path: str | Path,
    out_path: str | Path | None = None,
    device: str = "cpu",
) -> torch.Tensor:
    """Audio file -> features -> audio ``(1, T)`` at the model's rate, trimmed to the input's
    length; also written to ``out_path`` (WAV) when given. ``model``: a Vocoder or a model path."""
    return synthesize_file(_vocoder(model, device), audio_path, out_path)[0]


# -- evaluation and training ----------------------------------------------------------------------


def evaluate(
    model: Vocoder | str | Path | Sequence[Vocoder | str | Path],
    data: str | Path,
    output: str | Path,
    metrics: Sequence[str] | None = None,
    max_files: int | None = None,
    device: str = "cpu",
    plots: int = 10,
    save_audio: bool = False,
    ema: bool = False,
    progress: bool = True,
    engine: str = "auto",
    crepe_model: str | None = None,
    griffin_lim: bool = True,
    order_by: str | None = None,
    seed: int = 0,
    bootstrap: int = 2000,
    protocol: str = "vocos",
    bandwidth: float | None = None,
) -> EvalResult | Comparison:
    """Copy-synthesis evaluation on ``data`` (manifest, filelist or folder), written into ``output``.

    One model: metrics.json, metrics.csv, report.md, report.html and plots
    (:mod:`vocoder_train.evaluation.report`), returned as an :class:`EvalResult`. Several (a list):
    one A/B report on the same files with deltas against the first model, their bootstrap intervals
    (``bootstrap`` resamples, ``seed``) and signed-rank p-values and, with ``griffin_lim``, a
    Griffin-Lim baseline from the first model's mel (:mod:`vocoder_train.evaluation.compare`),
    returned as a :class:`Comparison`. A model with inference-time add-ons (phase refinement, mel
    projection) is also scored as its network alone, beside it, and the Griffin-Lim baseline gets the
    same mel projection, so the report is an A/B one. ``plots``: how many files the reports show in
    full (spectrograms, audio players), the worst by ``order_by`` (default: the first metric).
    ``protocol``: "vocos" (the Vocos paper's metrics, with DNSMOS) or "bigvgan" (sony/bigvsan_eval's:
    M-STFT, PESQ, MCD, periodicity, V/UV F1; 24 kHz models only); ``metrics`` replaces its list.
    ``crepe_model``: "full" (the papers' pitch metrics) or "tiny" (~15x faster on a CPU; not
    comparable with published figures); None: full where CREPE runs on a GPU, tiny on a CPU. CREPE
    runs on ``device`` when that is a GPU, else on the GPU when there is one. ``bandwidth``: the kbps
    that EnCodec models encode and decode at (default their highest); their baseline row is EnCodec's
    own decoder at it.
    """
    from vocoder_train.data.manifest import read_manifest
    from vocoder_train.evaluation.statistics import Bootstrap
    from vocoder_train.metrics.crepe import evaluation_model
    from vocoder_train.metrics.registry import MetricOptions, check_protocol

    own = check_protocol(protocol)
    names = tuple(metrics) if metrics else own
    crepe_device = device if str(device).startswith("cuda") else None
    crepe, note = evaluation_model(crepe_model, crepe_device)
    options = MetricOptions(crepe, crepe_device, note)
    settings = EvalSettings(
        names,
        plots,
        save_audio,
        progress,
        options=options,
        order_by=order_by,
        bootstrap=Bootstrap(bootstrap, seed),
        protocol=protocol,
    )
    settings.order_metric()  # a wrong order_by fails before any model loads
    models = list(model) if isinstance(model, list | tuple) else [model]
    if not models:
        raise ValueError("evaluate: no model given")
    vocoders = [
        m if isinstance(m, Vocoder) else load_vocoder(m, device, ema=ema, engine=engine) for m in models
    ]
    _check_rates(vocoders, names)
    if bandwidth is not None:
        codecs = [v for v in vocoders if v.bandwidths]
        if not codecs:
            raise ValueError(f"bandwidth {bandwidth:g} kbps: none of the models decodes codec codes")
        for v in codecs:
            v.set_bandwidth(bandwidth)
    paths = [item["path"] for item in read_manifest(data)][: max_files or None]
    labels = [str(m.source if isinstance(m, Vocoder) else m) for m in models]
    settings.labels = {"model": labels[0], "data": str(data), "device": vocoders[0].device}
    systems = _systems(labels, vocoders, griffin_lim)
    if len(systems) == 1:
        return evaluate_files(vocoders[0], paths, output, settings)
    return compare_files(systems, paths, output, settings)


def _check_rates(vocoders: Sequence[Vocoder], names: Sequence[str]) -> None:
    """ValueError naming the model when a metric of the bigvgan protocol meets a model not at 24 kHz."""
    from vocoder_train.metrics import bigvgan
    from vocoder_train.metrics.registry import BIGVGAN_METRICS

    if set(names) & set(BIGVGAN_METRICS):
        for v in vocoders:
            bigvgan.check_rate(v.sample_rate, v.source)


def _systems(names: Sequence[str], vocoders: Sequence[Vocoder], griffin_lim: bool) -> list[System]:
    """The columns of an evaluation: each model as shipped, then its network alone when it has inference-time
    add-ons (:func:`~vocoder_train.evaluation.baselines.network_only`); the Griffin-Lim baseline on the
    first model's mel, with its mel projection, when there are several columns and ``griffin_lim``."""
    from vocoder_train.evaluation.baselines import addons, network_only

    systems = []
    for i, (name, v) in enumerate(zip(names, vocoders)):
        label = chr(ord("A") + i) if i < 26 else f"M{i}"
        systems.append(System(label, name, v))
        alone = network_only(v)
        if alone is not None:
            off = ", ".join(addons(v))
            systems.append(System(f"{label}_network", f"{name}, network only ({off} off)", alone))
    if griffin_lim and len(systems) > 1 and hasattr(vocoders[0].feature_extractor, "decode_codes"):
        # a codec model's baseline is its codec's own decoder, as Griffin-Lim is a mel model's
        from vocoder_train.evaluation.baselines import CodecDecoderBaseline

        codec = CodecDecoderBaseline(vocoders[0])
        systems.append(System("codec", f"{codec.description} on {systems[0].label}'s input", codec))
    elif griffin_lim and len(systems) > 1:
        first = systems[0]
        passes = addons(vocoders[0]).get("mel_passes", 0)
        projection = f" + mel projection ({passes} passes)" if passes else ""
        systems.append(
            System(
                "griffin_lim",
                f"Griffin-Lim ({GRIFFIN_LIM_ITERS} iterations){projection} on {first.label}'s mel",
                GriffinLimBaseline(vocoders[0], mel_passes=passes),
            )
        )
    return systems


def train(overrides: Sequence[str] = ()) -> dict[str, float]:
    """Composes the shipped Hydra config with ``overrides`` (as on the ``vocoder-train`` command
    line) and trains; returns the final metrics. The run folder gets ``.hydra/config.yaml`` as
    ``vocoder-train`` writes it."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from vocoder_train.config import CONFIG_DIR
    from vocoder_train.training.run import train as run

    setup()
    with initialize_config_dir(CONFIG_DIR, version_base="1.3"):
        cfg = compose("train", overrides=list(overrides))
    hydra_dir = Path(cfg.paths.output_dir) / ".hydra"
    hydra_dir.mkdir(parents=True, exist_ok=True)
    OmegaConf.save(cfg, hydra_dir / "config.yaml")
    OmegaConf.save(OmegaConf.create(list(overrides)), hydra_dir / "overrides.yaml")
    return run(cfg)
