"""The export formats' writers: each writes one format's files of a generator into a fresh folder.

Formats (each folder also holds config.yaml, in vocos' format plus ``sample_rate``, and a README.md):

* ``vocos``: ``pytorch_model.bin``, the generator's state_dict with the windows and filterbanks
  that vocos keeps in it (:func:`~vocoder_train.io.buffers.vocos_state_dict`), for
  ``vocos.Vocos.from_hparams`` + ``load_state_dict`` (and ``Vocos.from_pretrained`` once the folder
  is on a hub).
* ``safetensors``: ``generator.safetensors`` (state_dict; the config as JSON in its metadata).
* ``torchscript``: ``generator.torchscript.pt``, a traced mel -> waveform graph.
* ``onnx``: ``generator.onnx``, mel ``(B, n_mels, frames)`` -> audio ``(B, samples)``, dynamic axes (the
  input is named ``features``, ``(B, channels, frames)``, for a generator on precomputed features).
* ``onnx-stream``: ``generator.stream.onnx``, a causal generator's streaming step
  (:class:`~vocoder_train.models.inference.stream_step.StreamingVocos`): ``(mel chunk, *state) ->
  (audio, tail_audio, *next_state)``, dynamic batch and chunk length.

The graph formats use :class:`vocoder_train.models.inference.exportable.ExportableVocos` (an ISTFT made of
real-valued ops). Each writer returns the names of the files it wrote; checking and publishing them:
:mod:`vocoder_train.models.export`.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import torch
import yaml

from vocoder_train.io.buffers import vocos_state_dict
from vocoder_train.models.inference.exportable import ExportableVocos
from vocoder_train.models.store import CODEC_FILE, MODEL_FILES


def _state_dict(generator: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The keys upstream ``vocos.Vocos`` loads strictly: the weights plus the windows and filterbanks that
    training checkpoints leave out. Contiguous copies: safetensors refuses shared or strided storage,
    and torch.save keeps views' bases."""
    return {k: v.detach().cpu().contiguous().clone() for k, v in vocos_state_dict(generator).items()}


def write_config(config: dict, folder: Path) -> str:
    with open(folder / "config.yaml", "w", encoding="utf-8") as f:
        yaml.safe_dump(config, f, sort_keys=False)
    return "config.yaml"


def write_vocos(generator, config, folder: Path, mels, opset: int) -> list[str]:
    """A front end that vocos has a class for is written as vocos' (the EnCodec one, whose codec weights
    vocos keeps apart: they are left out, as in ``charactr/vocos-encodec-24khz``)."""
    state = _state_dict(generator)
    upstream = getattr(generator.feature_extractor, "upstream_config", None)
    if upstream is not None:
        fe = config["feature_extractor"]
        class_path, args = upstream(dict(fe.get("init_args", {})))
        config = {**config, "feature_extractor": {"class_path": class_path, "init_args": args}}
        state = {k: v for k, v in state.items() if not k.startswith("feature_extractor.encodec.")}
    torch.save(state, folder / MODEL_FILES["vocos"])
    return [write_config(config, folder), MODEL_FILES["vocos"]]


def write_safetensors(generator, config, folder: Path, mels, opset: int) -> list[str]:
    from safetensors.torch import save_file

    meta = {
        "config": json.dumps(config),
        "sample_rate": str(config["sample_rate"]),
        "format": "vocoder_train.generator",
    }
    save_file(_state_dict(generator), str(folder / MODEL_FILES["safetensors"]), metadata=meta)
    return [write_config(config, folder), MODEL_FILES["safetensors"]]


def graph_inputs(generator, mels) -> tuple[tuple[torch.Tensor, ...], list[str]]:
    """A graph's example inputs and their names: the features, and for a conditioned generator (vocos'
    EnCodec model) its ``bandwidth_id`` (1,) int64, the last id as the example."""
    if getattr(generator, "conditions", 0):
        return (mels[0], torch.tensor([generator.conditions - 1])), [input_name(generator), "bandwidth_id"]
    return (mels[0],), [input_name(generator)]


def write_codec(generator, folder: Path) -> list[str]:
    """For a codec model's graph: the front end outside it (the codec, and code embeddings whose sum over
    codebooks gives the graph's features), as ``codec.safetensors``."""
    fe = generator.feature_extractor
    if not getattr(fe, "takes_codes", False):
        return []
    from safetensors.torch import save_file

    state = {k: v.detach().cpu().contiguous().clone() for k, v in fe.state_dict().items()}
    save_file(state, str(folder / CODEC_FILE), metadata={"format": "vocoder_train.feature_extractor"})
    return [CODEC_FILE]


def write_torchscript(generator, config, folder: Path, mels, opset: int) -> list[str]:
    module = ExportableVocos(generator).eval()
    inputs, _ = graph_inputs(generator, mels)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit is deprecated in 2.14 but works
        traced = torch.jit.trace(module, inputs, check_trace=False)
        traced.save(str(folder / MODEL_FILES["torchscript"]))
    return [write_config(config, folder), MODEL_FILES["torchscript"], *write_codec(generator, folder)]


def quiet_onnx_export() -> None:
    """Inside ``warnings.catch_warnings()``: silences what the TorchScript-based ONNX exporter says
    about itself (its deprecation, tracer notes, and that it cannot constant-fold the reversed pad
    list of a left-only ``F.pad``, as in the causal convolutions), none of which is about the graph."""
    warnings.simplefilter("ignore", DeprecationWarning)
    warnings.simplefilter("ignore", torch.jit.TracerWarning)
    warnings.filterwarnings("ignore", "Constant folding - Only steps=1", UserWarning)


def input_name(generator) -> str:
    """The name of a graph's input: "mel", or "features" for a generator on precomputed features or on a
    codec's codes."""
    fe = generator.feature_extractor
    return "mel" if getattr(fe, "takes_audio", True) and not getattr(fe, "takes_codes", False) else "features"


def write_onnx(generator, config, folder: Path, mels, opset: int) -> list[str]:
    module = ExportableVocos(generator).eval()
    name = input_name(generator)
    inputs, names = graph_inputs(generator, mels)
    # torch 2.14 defaults to the dynamo exporter, which needs `onnxscript` (not a dependency here);
    # the TorchScript-based exporter handles this graph (conv, layer norm, linear, conv_transpose).
    with warnings.catch_warnings(), torch.no_grad():
        quiet_onnx_export()
        torch.onnx.export(
            module,
            inputs,
            str(folder / MODEL_FILES["onnx"]),
            dynamo=False,
            input_names=names,
            output_names=["audio"],
            dynamic_axes={name: {0: "batch", 2: "frames"}, "audio": {0: "batch", 1: "samples"}},
            opset_version=opset,
        )
    import onnx

    onnx.checker.check_model(str(folder / MODEL_FILES["onnx"]))
    return [write_config(config, folder), MODEL_FILES["onnx"], *write_codec(generator, folder)]


def write_onnx_stream(generator, config, folder: Path, mels, opset: int) -> list[str]:
    from vocoder_train.models.inference.stream_step import StreamingVocos

    module = StreamingVocos(generator, graph=True).eval()
    state = module.initial_state(1)
    names = [f"state_{i}" for i in range(len(state))]
    batch = {0: "batch"}
    with warnings.catch_warnings(), torch.no_grad():  # the TorchScript-based exporter, as write_onnx
        quiet_onnx_export()
        torch.onnx.export(
            module,
            (mels[0][..., :5], *state),
            str(folder / MODEL_FILES["onnx-stream"]),
            dynamo=False,
            input_names=["mel", *names],
            output_names=["audio", "tail_audio", *(f"next_{n}" for n in names)],
            dynamic_axes={
                "mel": {0: "batch", 2: "frames"},
                "audio": {0: "batch", 1: "samples"},
                "tail_audio": batch,
                **{n: batch for n in names},
                **{f"next_{n}": batch for n in names},
            },
            opset_version=opset,
        )
    import onnx

    onnx.checker.check_model(str(folder / MODEL_FILES["onnx-stream"]))
    return [write_config(config, folder), MODEL_FILES["onnx-stream"]]


def write_sherpa_onnx(generator, config, folder: Path, mels, opset: int, form: str = "auto") -> list[str]:
    """sherpa-onnx's vocoder: the ``vocos`` form (ISTFT outside the graph) or the ``hifigan`` form (the
    whole graph), by :func:`~vocoder_train.models.sherpa.sherpa_form`, with the metadata it reads."""
    import onnx

    from vocoder_train.models.sherpa import SherpaVocos, sherpa_form, sherpa_metadata

    form = sherpa_form(generator, form)
    path = folder / SHERPA_FILE
    if form == "vocos":
        module, outputs = SherpaVocos(generator).eval(), ["mag", "x", "y"]
    else:
        module, outputs = ExportableVocos(generator).eval(), ["audio"]
    axes = {"mel": {2: "frames"}, **{o: {1 if o == "audio" else 2: "frames"} for o in outputs}}
    with warnings.catch_warnings(), torch.no_grad():
        quiet_onnx_export()
        torch.onnx.export(
            module,
            (mels[0][:1],),
            str(path),
            dynamo=False,
            input_names=["mel"],
            output_names=outputs,
            dynamic_axes=axes,
            opset_version=opset,
        )
    model = onnx.load(str(path))
    for key, value in sherpa_metadata(generator, config["sample_rate"], form).items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(model, str(path))
    onnx.checker.check_model(str(path))
    return [write_config(config, folder), SHERPA_FILE]


# sherpa-onnx is given the vocoder's path (OfflineTtsMatchaModelConfig(vocoder=...)): the name is ours
SHERPA_FILE = "vocoder.sherpa.onnx"


WRITERS = {
    "vocos": write_vocos,
    "safetensors": write_safetensors,
    "torchscript": write_torchscript,
    "onnx": write_onnx,
    "onnx-stream": write_onnx_stream,
    "sherpa-onnx": write_sherpa_onnx,
}


def write_readme(
    folder: Path, fmt: str, source: str, result_hint: str, name: str = "mel", conditioned: bool = False
) -> str:
    """README.md for ``fmt``; ``name``: the input, "mel" or "features" (:func:`input_name`); ``conditioned``:
    the graph also takes a ``bandwidth_id``."""
    load = {
        "vocos": 'from vocos import Vocos\nimport torch\n\nvocos = Vocos.from_hparams("config.yaml")\n'
        'vocos.load_state_dict(torch.load("pytorch_model.bin", map_location="cpu", weights_only=True))\n'
        "vocos.eval()\naudio = vocos.decode(mel)  # mel: (B, n_mels, frames) -> (B, frames * hop)\n"
        '# once uploaded to the Hugging Face hub: Vocos.from_pretrained("<user>/<repo>")',
        "safetensors": "from safetensors.torch import load_file\nfrom vocos import Vocos\n\n"
        "vocos = "
        'Vocos.from_hparams("config.yaml")\nvocos.load_state_dict(load_file("generator.safetensors"))\n'
        "vocos.eval()\naudio = vocos.decode(mel)  # mel: (B, n_mels, frames)",
        "torchscript": 'import torch\n\nmodel = torch.jit.load("generator.torchscript.pt").eval()\n'
        "audio = model(mel)  # mel: float32 (B, n_mels, frames) -> (B, samples)",
        "onnx": 'import numpy\nimport onnxruntime as ort\n\nsess = ort.InferenceSession("generator.onnx")\n'
        + (
            f'(audio,) = sess.run(None, {{"{name}": mel}})  # float32 (B, n_mels, frames) -> (B, samples)'
            if not conditioned
            else f'(audio,) = sess.run(None, {{"{name}": features, "bandwidth_id": numpy.array([2])}})  '
            "# float32 (B, 128, frames), int64 (1,) -> (B, samples)"
        ),
        "sherpa-onnx": "import sherpa_onnx\n\nmatcha = sherpa_onnx.OfflineTtsMatchaModelConfig(\n"
        '    acoustic_model="model-steps-3.onnx", vocoder="vocoder.sherpa.onnx",\n'
        '    lexicon="lexicon.txt", tokens="tokens.txt")\n'
        "tts = sherpa_onnx.OfflineTts(sherpa_onnx.OfflineTtsConfig(\n"
        "    model=sherpa_onnx.OfflineTtsModelConfig(matcha=matcha)))\n"
        'audio = tts.generate("text").samples',
        "onnx-stream": 'import vocoder_train as vt\n\nstreamer = vt.load_vocoder(".").stream()  # carries '
        "the state\n"
        "for chunk in mel_chunks:  # float32 (B, n_mels, c), any c per call\n    play(streamer.push(chunk))\n"
        "play(streamer.flush())\n\n# onnxruntime alone: feed mel + state_0.. (zeros to start), keep "
        "next_state_* for\n"
        "# the next call; drop the first n_fft - hop samples of an utterance (before time 0); after\n"
        "# its last chunk, the last call's tail_audio is the end.",
    }[fmt]
    example = "input.wav" if name == "mel" else "features.npy"
    front = (
        "the mel\nfront-end (`feature_extractor`) is what the model expects as input."
        if name == "mel"
        else "its\n`feature_extractor` is `PrecomputedFeatures`: the model takes features made elsewhere,\n"
        "float32 (B, channels, frames), where the examples below say mel."
    )
    text = (
        f"# Vocoder export ({fmt})\n\nExported by `vocoder-export` from `{source}`. {result_hint}\n\n"
        "`config.yaml` is a vocos config (feature_extractor / backbone / head) plus `sample_rate`; "
        f"{front}\n\n## Load it\n\n```python\n{load}\n```\n\n"
        f"Or, from the command line: `vocoder-synthesize <this folder> {example} --output out/`.\n"
    )
    (folder / "README.md").write_text(text, encoding="utf-8")
    return "README.md"
