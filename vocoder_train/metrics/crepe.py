"""CREPE pitch metrics as the Vocos paper computes them: periodicity RMSE, V/UV F1, f0 RMSE in cents.

The definition is vocos' ``metrics/periodicity.py`` (gemelo-ai/vocos, "adapted from
descriptinc/cargan"), which vocos' ``experiment.py`` applies to 16 kHz audio:

- both signals resampled to 16 kHz with ``torchaudio.functional.resample``'s default kernel
  (experiment.py); here :func:`vocoder_train.io.audio.resample` with ``quality="torchaudio_default"``,
  the same kernel;
- ``torchcrepe.predict(fmin=50, fmax=550, model="full", pad=False, return_periodicity=True)`` with
  torchcrepe's defaults for the rest: hop ``16000 // 100`` = 160 samples (10 ms), 1024-sample
  windows that are not padded (frame ``i`` covers samples ``[160 i, 160 i + 1024)``), Viterbi decoding;
- silence: a power spectrogram on the same frames (Hann 1024, hop 160, ``center=False``) in dB
  (``librosa.power_to_db``: floor 1e-10, at most 80 dB below the file's loudest bin), plus
  A-weighting, minus torchcrepe's ``REF_DB`` (20 dB), averaged over frequency; frames below
  -60 dB get periodicity 0 (:data:`SILENCE_DB`);
- unvoiced: periodicity below 0.21 (:data:`UNVOICED_THRESHOLD`, ``torchcrepe.threshold.At``);
- periodicity = ``sqrt(mean_frames((p_deg - p_ref)^2))``; V/UV F1 with voiced = positive; pitch =
  RMSE of ``1200 log2(f0_ref / f0_deg)`` on frames voiced in both.

The silence gate is not ``torchcrepe.threshold.Silence``: that one floors each weighted bin at
-100 dB before averaging, vocos' does not, so quiet frames average differently.
Where this differs from the reference, it is where the reference has no number or a random one:
a pair with no voiced frame in either signal gets V/UV F1 1.0 and one with no true positive 0.0
(the reference divides 0 by 0); torchcrepe dithers each decoded f0 by up to one bin (20 cents)
with numpy's global generator, which is seeded the same for every track here (and restored
after), so tracks are reproducible and the dither cancels in ``pitch_cents`` (the reference's
pitch RMSE carries ~11.5 cents of dither noise); and the network runs on at most
:data:`BATCH_FRAMES` frames at a time (its output per frame does not depend on the batch;
Viterbi decoding still sees the whole file).

``model="full"`` (the paper's) costs ~2.5 GMAC a frame, seconds per second of audio on a CPU
(docs/guide-inference.md gives a timing); ``"tiny"`` is much cheaper and scores differently.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch

from vocoder_train.metrics._common import AudioLike, paired_tensors
from vocoder_train.metrics.pitch import PitchTrack, track_metrics

CREPE_RATE = 16000  # torchcrepe.SAMPLE_RATE
HOP_LENGTH = 160  # torchcrepe's default hop at 16 kHz (10 ms); vocos' silence gate uses it too
WINDOW = 1024  # torchcrepe.WINDOW_SIZE
# vocos' metrics/periodicity.py: torchcrepe.predict(fmin=50.0, fmax=550), SILENCE_THRESHOLD,
# UNVOICED_THRESHOLD
FMIN, FMAX = 50.0, 550.0
SILENCE_DB = -60.0
UNVOICED_THRESHOLD = 0.21
MODELS = ("full", "tiny")
BATCH_FRAMES = 256  # the full model's first layer holds ~2 MB per frame
DITHER_SEED = 0
_REFERENCE_CACHE_SIZE = 512
_reference_tracks: OrderedDict[tuple, object] = OrderedDict()


def check_model(model: str) -> str:
    """``model`` if it is a CREPE capacity torchcrepe ships, else ValueError naming the choices."""
    if model not in MODELS:
        raise ValueError(
            f"crepe model {model!r} (validation.crepe_model, --crepe-model): choose one of "
            f"{', '.join(MODELS)}; full is the Vocos paper's"
        )
    return model


def evaluation_model(model: str | None, device: str | torch.device | None = None) -> tuple[str, str]:
    """(CREPE model, why, for reports) of an evaluation that asked for ``model`` (None: choose).

    None picks "full" where CREPE runs on a GPU (``device``, else :func:`default_device`) and "tiny" on a
    CPU, where "full" costs ~30 s per 3 s of audio on 2 cores and "tiny" about a fifteenth of that."""
    if model is not None:
        return check_model(model), ""
    where = torch.device(device) if device is not None else default_device()
    if where.type == "cuda":
        return "full", ""
    return "tiny", "the CPU default; --crepe-model full gives the papers' setting"


def default_device() -> torch.device:
    """The current CUDA device when there is one (each rank's own under DDP), else the CPU."""
    return (
        torch.device("cuda", torch.cuda.current_device())
        if torch.cuda.is_available()
        else torch.device("cpu")
    )


def silent_frames(audio16k: torch.Tensor) -> np.ndarray:
    """(T,) at 16 kHz -> bool (frames,): vocos' silence gate (see the module docstring) on CREPE's frames."""
    import torchcrepe

    window = torch.hann_window(WINDOW, dtype=audio16k.dtype, device=audio16k.device)
    spec = torch.stft(audio16k, WINDOW, HOP_LENGTH, window=window, center=False, return_complex=True)
    power = spec.abs().square().cpu().numpy().astype(np.float64)  # (513, frames)
    db = 10.0 * np.log10(np.maximum(power, 1e-10))
    db = np.maximum(db, db.max() - 80.0)
    loudness = (db + torchcrepe.loudness.perceptual_weights()).mean(axis=0)  # A-weighting - REF_DB
    return loudness < SILENCE_DB


@contextmanager
def same_dither() -> Iterator[None]:
    """numpy's global generator (torchcrepe's f0 dither draws from it) seeded with :data:`DITHER_SEED`,
    then put back as it was."""
    state = np.random.get_state()
    np.random.seed(DITHER_SEED)
    try:
        yield
    finally:
        np.random.set_state(state)


def probabilities(
    audio16k: torch.Tensor, model: str, device: torch.device, hop_length: int = HOP_LENGTH
) -> torch.Tensor:
    """CREPE's per-bin probabilities (1, 360, frames) of unpadded 1024-sample windows every ``hop_length``
    samples of ``audio16k`` (T,), :data:`BATCH_FRAMES` frames per forward pass (the output of a frame does
    not depend on the batch)."""
    import torchcrepe

    frames = torchcrepe.preprocess(audio16k[None], CREPE_RATE, hop_length, BATCH_FRAMES, device, pad=False)
    probs = torch.cat([torchcrepe.infer(f, model, device).cpu() for f in frames])
    return probs.reshape(1, -1, torchcrepe.PITCH_BINS).transpose(1, 2)


@torch.no_grad()
def crepe_track(
    audio: AudioLike, sample_rate: int, model: str = "full", device: str | torch.device | None = None
) -> PitchTrack:
    """CREPE track of mono ``audio`` (T,) at ``sample_rate``, as vocos' evaluation makes it.

    Args:
        audio: numpy array or tensor, resampled to 16 kHz first.
        model: "full" (the Vocos paper's) or "tiny".
        device: where the network runs; None picks the GPU when there is one.

    Returns:
        :class:`~vocoder_train.metrics.pitch.PitchTrack` with ``1 + (T16 - 1024) // 160`` frames
        (none for less than 1024 samples at 16 kHz): f0 in Hz (0 when unvoiced), periodicity
        (0 on silent frames), voiced flags.
    """
    import torchcrepe

    from vocoder_train.io.audio import resample

    check_model(model)
    x = torch.as_tensor(audio, dtype=torch.float32).reshape(-1).cpu()
    x = resample(x, int(sample_rate), CREPE_RATE, quality="torchaudio_default")
    if x.shape[-1] < WINDOW:
        empty = np.zeros(0)
        return PitchTrack(f0=empty, periodicity=empty, voiced=np.zeros(0, dtype=bool))
    dev = torch.device(device) if device is not None else default_device()
    probs = probabilities(x, model, dev)
    with same_dither():
        pitch, periodicity = torchcrepe.postprocess(
            probs, FMIN, FMAX, torchcrepe.decode.viterbi, return_periodicity=True
        )
    periodicity[0, torch.from_numpy(silent_frames(x))] = 0.0
    pitch = torchcrepe.threshold.At(UNVOICED_THRESHOLD)(pitch, periodicity)[0].double().numpy()
    voiced = ~np.isnan(pitch)
    return PitchTrack(
        f0=np.where(voiced, pitch, 0.0), periodicity=periodicity[0].double().numpy(), voiced=voiced
    )


def reference_track(ref: torch.Tensor, sample_rate: int, model: str, device, tracker=crepe_track):
    """``tracker(ref, sample_rate, model, device)`` (default :func:`crepe_track`) of a reference,
    remembered by content: validation scores the same segments every time and an A/B evaluation the
    same file once per model."""
    key = (
        hashlib.blake2b(ref.numpy().tobytes(), digest_size=16).digest(),
        ref.shape[-1],
        int(sample_rate),
        model,
        tracker.__qualname__,
    )
    track = _reference_tracks.get(key)
    if track is None:
        track = tracker(ref, sample_rate, model, device)
        _reference_tracks[key] = track
        if len(_reference_tracks) > _REFERENCE_CACHE_SIZE:
            _reference_tracks.popitem(last=False)
    else:
        _reference_tracks.move_to_end(key)
    return track


def crepe_metrics(
    ref: AudioLike,
    deg: AudioLike,
    sample_rate: int,
    model: str = "full",
    device: str | torch.device | None = None,
) -> dict[str, float]:
    """``periodicity``, ``vuv_f1`` and ``pitch_cents`` of ``deg`` against ``ref`` from CREPE tracks.

    ``ref``/``deg``: mono ``(T,)`` arrays or tensors at ``sample_rate``, trimmed to the shorter.
    Periodicity and pitch: lower is better (0 for identical signals); V/UV F1: higher (1.0).
    NaN for all three when the pair is shorter than one CREPE window (1024 samples at 16 kHz),
    and for ``pitch_cents`` when no frame is voiced in both.
    """
    r, d = paired_tensors(ref, deg)
    return track_metrics(
        reference_track(r, sample_rate, model, device), crepe_track(d, sample_rate, model, device)
    )
