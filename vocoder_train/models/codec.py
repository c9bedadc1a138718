"""EnCodec as a Vocos front end: the frozen 24 kHz EnCodec's codes, embedded by its own codebooks and
summed, at one of several bandwidths that the generator and the discriminators are conditioned on.

:class:`EncodecFeatures` *is* vocos' ``EncodecFeatures`` (same attributes, same parameter names, same
forward), so its weights load into ``vocos.Vocos`` unchanged; only the EnCodec weights come from a local
file (``codec.path``: the file torch hub caches as ``encodec_24khz-d7cc33bc.th``), never from the network.
Without a path the codec starts from random weights, for a checkpoint that carries them.

Codes: ``(codebooks, B, frames)`` integers, 2 / 4 / 8 / 16 codebooks at 1.5 / 3 / 6 / 12 kbps (75 frames
a second, 1024 entries a codebook); :meth:`EncodecFeatures.codes_to_features` turns them into the
generator's features, as ``vocos.Vocos.codes_to_features`` does.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf
from vocos.feature_extractors import EncodecFeatures as VocosEncodecFeatures
from vocos.feature_extractors import FeatureExtractor

from vocoder_train.config.checks import select

ENCODEC_24KHZ = "encodec_24khz"
ENCODEC_FILE = "encodec_24khz-d7cc33bc.th"  # the name torch hub caches the released weights under
ENCODEC_RATE, ENCODEC_FRAME_RATE, ENCODEC_DIM = 24000, 75, 128
ENCODEC_BANDWIDTHS = (1.5, 3.0, 6.0, 12.0, 24.0)  # the 24 kHz model's, kbps
HUB_HINT = f"torch hub caches the released weights as $TORCH_HOME/hub/checkpoints/{ENCODEC_FILE}"


class CodecError(ValueError):
    """A codec that cannot be used: a missing or unreadable weights file, a codec or bandwidth that is not
    supported, codes that do not fit."""


def bandwidth_label(bandwidth: float) -> str:
    """1.5 -> "1.5kbps", 6.0 -> "6kbps": the suffix of per-bandwidth metrics (``val/mel_l1@6kbps``)."""
    return f"{float(bandwidth):g}kbps"


def codebooks_for(bandwidth: float) -> int:
    """Codebooks the 24 kHz EnCodec uses at ``bandwidth`` kbps (10 bits a code, 75 frames a second)."""
    return int(1000 * float(bandwidth) // (ENCODEC_FRAME_RATE * 10))


def model_problem(encodec_model: str, key: str) -> str | None:
    if encodec_model == ENCODEC_24KHZ:
        return None
    if encodec_model == "encodec_48khz":
        return (
            f"{key}=encodec_48khz: the 48 kHz EnCodec (stereo, 1 s chunks with a scale each) is not "
            f"supported; use {ENCODEC_24KHZ}"
        )
    return f"{key}={encodec_model!r}: unsupported codec; use {ENCODEC_24KHZ}"


def bandwidth_problems(bandwidths, key: str) -> list[str]:
    if not bandwidths:
        return [f"{key}: at least one bandwidth is needed, e.g. [1.5, 3.0, 6.0, 12.0]"]
    return [
        f"{key} has {b!r}: the 24 kHz EnCodec has bandwidths "
        f"{', '.join(f'{x:g}' for x in ENCODEC_BANDWIDTHS)}"
        for b in bandwidths
        if not isinstance(b, (int, float)) or float(b) not in ENCODEC_BANDWIDTHS
    ]


def path_problem(path, key: str) -> str | None:
    """Why ``path`` cannot give EnCodec weights (None when it can)."""
    if path is None or str(path) in ("", "None", "???"):
        return f"{key} is not set: pass {key}=/path/to/{ENCODEC_FILE} ({HUB_HINT}); nothing is downloaded"
    p = Path(str(path)).expanduser()
    if p.is_dir():
        if (p / ENCODEC_FILE).is_file():
            return None
        return f"{key}={path}: a folder without {ENCODEC_FILE}; pass the file itself ({HUB_HINT})"
    if not p.is_file():
        where = p.resolve()
        return f"{key}={path}: no such file (looked at {where}); pass the EnCodec weights file ({HUB_HINT})"
    from vocoder_train.io.filekind import sniff

    found = sniff(p)
    if found.name not in ("torch", "pickle"):  # read with weights_only either way
        return f"{key}={path}: {found.description}, not PyTorch weights; pass {ENCODEC_FILE} ({HUB_HINT})"
    return None


def _encodec_24khz():
    """A fresh ``encodec.EncodecModel.encodec_model_24khz`` (random weights), without the deprecation warning
    that encodec's use of ``torch.nn.utils.weight_norm`` prints on every build."""
    import warnings

    from encodec import EncodecModel

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", ".*weight_norm.*", FutureWarning)
        return EncodecModel.encodec_model_24khz(pretrained=False)


def load_encodec(path: str | Path | None, key: str = "codec.path"):
    """The 24 kHz ``encodec.EncodecModel``, with the weights of ``path`` (a file or a folder holding
    :data:`ENCODEC_FILE`; read with ``weights_only``) or random ones when ``path`` is None."""
    model = _encodec_24khz()
    if path is None:
        return model
    problem = path_problem(path, key)
    if problem:
        raise CodecError(problem)
    p = Path(str(path)).expanduser()
    p = p / ENCODEC_FILE if p.is_dir() else p
    try:
        state = torch.load(p, map_location="cpu", weights_only=True)
        model.load_state_dict(state)
    except Exception as e:  # noqa: BLE001 - any unreadable or mismatched file gets the same advice
        raise CodecError(
            f"{key}={path}: not the 24 kHz EnCodec's weights ({type(e).__name__}: {str(e)[:200]}); "
            f"pass {ENCODEC_FILE} ({HUB_HINT})"
        ) from e
    return model


def hub_file() -> Path:
    """Where torch hub keeps the 24 kHz EnCodec's weights, and vocos' EnCodec front end reads them:
    ``$TORCH_HOME/hub/checkpoints/encodec_24khz-d7cc33bc.th``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / ENCODEC_FILE


@contextlib.contextmanager
def torch_home_with_codec(codec):
    """A temporary $TORCH_HOME whose hub cache holds ``codec``'s weights (an ``encodec.EncodecModel``), where
    vocos' EnCodec front end looks; yields the weights file. A real cache is never written."""
    old = os.environ.get("TORCH_HOME")
    with tempfile.TemporaryDirectory(prefix="vocoder-torch-home-") as home:
        os.environ["TORCH_HOME"] = home
        try:
            path = hub_file()
            path.parent.mkdir(parents=True)
            torch.save(codec.state_dict(), path)
            yield path
        finally:
            if old is None:
                os.environ.pop("TORCH_HOME", None)
            else:
                os.environ["TORCH_HOME"] = old


def random_encodec(seed: int = 0):
    """The 24 kHz EnCodec with seeded random weights and codebooks (a fresh model's are zero until k-means
    fills them in training, which would make every code embed to zero): for tests and benchmarks, which
    have no released weights."""
    g = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = _encodec_24khz()
    for layer in model.quantizer.vq.layers:
        book = layer._codebook
        book.embed.copy_(torch.randn(book.embed.shape, generator=g))
        book.embed_avg.copy_(book.embed)
        book.cluster_size.fill_(1.0)
        book.inited.fill_(1.0)
    return model


class EncodecFeatures(VocosEncodecFeatures):
    """vocos' EnCodec front end with the codec's weights from a local file.

    Args:
        path (str | None): the EnCodec weights (:data:`ENCODEC_FILE`, or a folder holding it); None: random
            weights, which a checkpoint's state dict replaces.
        encodec_model (str): "encodec_24khz" (the 48 kHz model is refused).
        bandwidths (Sequence[float]): kbps; the conditioning id i means ``bandwidths[i]``.
        train_codebooks (bool): train the code embeddings (vocos' default: frozen).
    """

    takes_codes = True  # what inference reads: this front end also decodes codes (.npy integers)
    codec_name = "EnCodec"

    def __init__(
        self,
        path: str | None = None,
        encodec_model: str = ENCODEC_24KHZ,
        bandwidths: Sequence[float] = (1.5, 3.0, 6.0, 12.0),
        train_codebooks: bool = False,
    ):
        FeatureExtractor.__init__(self)  # vocos' __init__ would download the weights
        problems = [p for p in (model_problem(encodec_model, "encodec_model"),) if p]
        problems += bandwidth_problems(list(bandwidths), "bandwidths")
        if problems:
            raise CodecError("; ".join(problems))
        self.encodec = load_encodec(path)
        for param in self.encodec.parameters():
            param.requires_grad = False
        self.bandwidths = [float(b) for b in bandwidths]
        self.num_q = codebooks_for(max(self.bandwidths))
        weights = torch.cat([vq.codebook for vq in self.encodec.quantizer.vq.layers[: self.num_q]], dim=0)
        self.codebook_weights = torch.nn.Parameter(weights, requires_grad=train_codebooks)

    @property
    def conditions(self) -> int:
        """Conditioning ids (one per bandwidth)."""
        return len(self.bandwidths)

    @property
    def condition_labels(self) -> list[str]:
        return [bandwidth_label(b) for b in self.bandwidths]

    def train(self, mode: bool = True):
        """The codec stays in eval mode (Lightning puts children back in train mode every epoch)."""
        super().train(mode)
        self.encodec.eval()
        return self

    def forward(self, audio: torch.Tensor, **kwargs) -> torch.Tensor:
        """audio (B, T) at 24 kHz and ``bandwidth_id`` (1,) -> features (B, 128, frames): vocos' forward."""
        if kwargs.get("bandwidth_id") is None:
            raise CodecError(
                "the EnCodec front end encodes at a bandwidth: pass bandwidth_id "
                f"(0..{len(self.bandwidths) - 1} for {', '.join(self.condition_labels)})"
            )
        return super().forward(audio, **kwargs)

    @torch.no_grad()
    def codes(self, audio: torch.Tensor, bandwidth_id: int) -> torch.Tensor:
        """audio (B, T) at 24 kHz -> codes (codebooks, B, frames)."""
        self.encodec.eval()
        self.encodec.set_target_bandwidth(self.bandwidths[int(bandwidth_id)])
        return self.get_encodec_codes(audio)

    def codes_to_features(self, codes: torch.Tensor) -> torch.Tensor:
        """codes (codebooks, frames) or (codebooks, B, frames) -> features (B, 128, frames): each codebook's
        embedding, summed (what :meth:`forward` does after encoding)."""
        codes = codes.unsqueeze(1) if codes.dim() == 2 else codes
        bins = self.encodec.quantizer.bins
        if codes.shape[0] > self.num_q:
            raise CodecError(f"codes have {codes.shape[0]} codebooks; this model embeds at most {self.num_q}")
        offsets = torch.arange(0, bins * codes.shape[0], bins, device=codes.device).view(-1, 1, 1)
        features = torch.nn.functional.embedding(codes.long() + offsets, self.codebook_weights).sum(dim=0)
        return features.transpose(1, 2)

    @torch.no_grad()
    def decode_codes(self, codes: torch.Tensor) -> torch.Tensor:
        """EnCodec's own decoder: codes (codebooks, B, frames) -> audio (B, frames * 320), the baseline
        the Vocos paper compares with."""
        self.encodec.eval()
        emb = self.encodec.quantizer.decode(codes)
        return self.encodec.decoder(emb).squeeze(1)

    @classmethod
    def frame_layout(cls, node) -> tuple[int | None, int | None]:
        """(hop length, channels): 320 samples a frame at 24 kHz, 128 channels."""
        return ENCODEC_RATE // ENCODEC_FRAME_RATE, ENCODEC_DIM

    @classmethod
    def stored_bandwidths(cls, init_args: dict) -> list[float]:
        """The kbps of each conditioning id of a stored config."""
        return [float(b) for b in init_args.get("bandwidths") or (1.5, 3.0, 6.0, 12.0)]

    @classmethod
    def stored_codebooks(cls, init_args: dict) -> list[int]:
        """The codebooks of each conditioning id of a stored config."""
        return [codebooks_for(b) for b in cls.stored_bandwidths(init_args)]

    @classmethod
    def upstream_config(cls, init_args: dict) -> tuple[str, dict]:
        """vocos' class path and init args for a ``config.yaml`` that ``vocos.Vocos.from_hparams`` reads
        (the weights file is vocos' own business: torch hub's cache)."""
        args = {k: v for k, v in init_args.items() if k != "path"}
        return f"{VocosEncodecFeatures.__module__}.{VocosEncodecFeatures.__name__}", args

    @classmethod
    def config_problems(cls, node, key: str, cfg) -> list[str]:
        """The codec and its bandwidths are supported, the weights file exists, the run is at 24 kHz and the
        backbone takes one conditioning id per bandwidth."""
        node = node if isinstance(node, DictConfig) else OmegaConf.create(dict(node))
        p = [
            m
            for m in (model_problem(select(node, "encodec_model") or ENCODEC_24KHZ, f"{key}.encodec_model"),)
            if m
        ]
        bandwidths = select(node, "bandwidths")
        bandwidths = list(bandwidths) if bandwidths is not None else [1.5, 3.0, 6.0, 12.0]
        p += bandwidth_problems(bandwidths, f"{key}.bandwidths")
        problem = path_problem(select(node, "path"), "codec.path")
        if problem:
            p.append(problem)
        rate = select(cfg, "audio.sample_rate")
        if isinstance(rate, int) and rate != ENCODEC_RATE:
            p.append(f"audio.sample_rate={rate}: the EnCodec front end takes {ENCODEC_RATE} Hz audio")
        parent = key.rsplit(".", 1)[0]
        n = select(cfg, f"{parent}.backbone.adanorm_num_embeddings")
        if n is not None and n != len(bandwidths):
            p.append(
                f"{parent}.backbone.adanorm_num_embeddings={n} != {len(bandwidths)}, the number of "
                f"{key}.bandwidths (one conditioning id per bandwidth)"
            )
        return p
