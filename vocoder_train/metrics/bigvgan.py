"""The BigVGAN / BigVSAN papers' objective metrics, as sony/bigvsan_eval's ``evaluate.py`` computes them.

That script scores 24 kHz pairs (it refuses other rates) with five numbers; each is written here
from its definition, with the libraries it uses:

- M-STFT: ``auraloss.freq.MultiResolutionSTFTLoss()`` with its defaults (FFT sizes 1024/2048/512,
  hops 120/240/50, Hann windows of 600/1200/240, spectral convergence + log-magnitude L1, averaged
  over the resolutions) on the 24 kHz signals; the mean over files.
- PESQ: both signals resampled to 16 kHz (torchaudio's default resampling kernel), scaled by 32768
  and cast to int16 by truncation toward zero (``Tensor.short()``, not rounding), then the ``pesq``
  package's wide band; the mean over files.
- MCD: both signals resampled to 22.05 kHz and scaled by 32768; 1024-sample frames every 256 samples
  (no padding), Blackman-windowed (``pysptk.blackman``); ``pysptk.mgcep`` mel-generalized cepstra of
  order 25 (26 coefficients, c0 included), alpha 0.41, gamma -1/5; frames aligned by ``fastdtw`` with
  Euclidean distance; ``10 / ln 10 * sqrt(2) * sum of the aligned frames' Euclidean distances / number
  of aligned frames``, pooled over every frame of every file (not a mean of per-file values).
- Periodicity and V/UV F1 (CARGAN's ``preprocess.pitch.from_audio`` and
  ``evaluate.objective.metrics.Pitch``): the 22.05 kHz signals resampled to 16 kHz; hop
  ``int(256 * 16000 / 22050)`` = 185 samples; reflect-padded by ``(1024 - 185) // 2`` on each side;
  ``torchcrepe`` (model full, f0 50-550 Hz, unpadded windows, Viterbi decoding) with its periodicity;
  ``torchcrepe.threshold.Silence`` (-60 dB) sets silent frames' periodicity to 0; pitch (in log2) and
  periodicity linearly interpolated to ``samples_22k // 256`` frames; voiced where
  ``torchcrepe.threshold.Hysteresis()`` keeps the pitch. Periodicity: RMSE of the periodicity over
  all frames; V/UV F1 of the voiced flags (voiced = positive); both pooled over every frame of
  every file.

Per file this module gives each metric on that file alone (for tables, deltas and intervals) and
the counts that pool them (:data:`SUPPORT`); :func:`pooled_mcd`, :func:`pooled_periodicity` and
:func:`pooled_vuv_f1` give the figures the script prints. Where this differs from it: torchcrepe's f0
dither is seeded the same for every track (:func:`~vocoder_train.metrics.crepe.same_dither`), so
tracks repeat exactly; a file where PESQ finds no utterance gets NaN instead of stopping the run;
CREPE decodes a file in one piece where ``torchcrepe.predict`` decodes 1024 frames at a time (files
longer than ~12 s); the CREPE capacity can be "tiny" (recorded in reports; not the papers' figures).
M-STFT is the definition of :func:`~vocoder_train.metrics.spectral.mrstft_distance` too (equal to float
rounding); it is computed here with auraloss itself, as the script does.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np
import torch

from vocoder_train.metrics import crepe
from vocoder_train.metrics._common import AudioLike, paired_tensors
from vocoder_train.metrics.pitch import f1_from_counts, vuv_counts

BIGVGAN_RATE = 24000  # evaluate.py's SR_TARGET
INT16_SCALE = 32768.0  # evaluate.py's MAX_WAV_VALUE
PESQ_RATE = 16000
RESAMPLING = "torchaudio_default"  # torchaudio.transforms.Resample's defaults, as evaluate.py and CARGAN use
MCD_RATE = 22050
MCD_FRAME, MCD_HOP = 1024, 256
MCD_ORDER, MCD_ALPHA, MCD_GAMMA = 25, 0.41, -1.0 / 5
MCD_DB = 10.0 / math.log(10.0) * math.sqrt(2.0)
CARGAN_RATE, CARGAN_HOP, CARGAN_N_FFT = 22050, 256, 1024  # cargan.SAMPLE_RATE, HOPSIZE, NUM_FFT
CREPE_HOP = int(CARGAN_HOP * (crepe.CREPE_RATE / CARGAN_RATE))  # 185
CREPE_PAD = (CARGAN_N_FFT - CREPE_HOP) // 2  # 419
SILENCE_DB = -60.0  # torchcrepe.threshold.Silence's default

# per-file counts that pool a metric over every frame of every file
SUPPORT = {
    "mcd_bigvgan": ("mcd_frames",),
    "periodicity_bigvgan": ("cargan_frames",),
    "vuv_f1_bigvgan": ("cargan_tp", "cargan_fp", "cargan_fn"),
}


def check_rate(sample_rate: int, source: object = "audio") -> None:
    """ValueError unless ``sample_rate`` is the protocol's 24 kHz."""
    if int(sample_rate) != BIGVGAN_RATE:
        raise ValueError(
            f"{source}: the bigvgan protocol is defined on {BIGVGAN_RATE} Hz audio (sony/bigvsan_eval "
            f"refuses other rates), not {sample_rate} Hz; evaluate this model with --protocol vocos"
        )


def _pair(ref: AudioLike, deg: AudioLike, sample_rate: int) -> tuple[torch.Tensor, torch.Tensor]:
    check_rate(sample_rate)
    return paired_tensors(ref, deg)


def _at(audio: torch.Tensor, orig: int, new: int) -> torch.Tensor:
    from vocoder_train.io.audio import resample

    return resample(audio, orig, new, quality=RESAMPLING)


_mstft_loss = None


@torch.no_grad()
def mstft(ref: AudioLike, deg: AudioLike, sample_rate: int = BIGVGAN_RATE) -> float:
    """M-STFT: auraloss' ``MultiResolutionSTFTLoss()`` (its defaults) of ``deg`` against ``ref`` at 24 kHz."""
    global _mstft_loss
    import auraloss

    r, d = _pair(ref, deg, sample_rate)
    if _mstft_loss is None:
        _mstft_loss = auraloss.freq.MultiResolutionSTFTLoss()
    return float(_mstft_loss(d[None, None], r[None, None]))


def pesq_int16(ref: AudioLike, deg: AudioLike, sample_rate: int = BIGVGAN_RATE) -> float:
    """Wide-band PESQ of the 16 kHz signals truncated to int16, as evaluate.py scores them."""
    from vocoder_train.metrics.perceptual import pesq_16k

    r, d = _pair(ref, deg, sample_rate)
    r16, d16 = (
        (_at(x, sample_rate, PESQ_RATE) * INT16_SCALE).to(torch.int16).numpy() for x in (r, d)
    )  # truncation toward zero, as Tensor.short()
    return pesq_16k(r16, d16, "pesq_bigvgan")


def mel_cepstra(audio: np.ndarray) -> np.ndarray:
    """(T,) float64 at 22.05 kHz, int16 scale -> (frames, 26): Blackman-windowed frames, ``pysptk.mgcep``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # pysptk imports the deprecated pkg_resources
        import pysptk

    if audio.shape[-1] < MCD_FRAME:
        return np.zeros((0, MCD_ORDER + 1))
    frames = np.lib.stride_tricks.sliding_window_view(audio, MCD_FRAME)[::MCD_HOP] * pysptk.blackman(
        MCD_FRAME
    )
    return pysptk.mgcep(frames, MCD_ORDER, MCD_ALPHA, MCD_GAMMA).reshape(-1, MCD_ORDER + 1)


def cepstra(audio: torch.Tensor, sample_rate: int = BIGVGAN_RATE, model=None, device=None) -> np.ndarray:
    """:func:`mel_cepstra` of 24 kHz ``audio`` (T,) resampled to 22.05 kHz and scaled to int16 range
    (``model``/``device``: unused, the signature :func:`~vocoder_train.metrics.crepe.reference_track`
    remembers references by)."""
    return mel_cepstra((_at(audio, sample_rate, MCD_RATE) * INT16_SCALE).double().numpy())


def mcd_terms(ref: AudioLike, deg: AudioLike, sample_rate: int = BIGVGAN_RATE) -> tuple[float, int]:
    """(sum of the DTW-aligned frames' Euclidean mel-cepstral distances, number of aligned frames)."""
    from fastdtw import fastdtw
    from scipy.spatial.distance import euclidean

    r, d = _pair(ref, deg, sample_rate)
    # pysptk.mgcep costs ~10 ms a frame: a reference scored against several systems is analysed once
    cr, cd = crepe.reference_track(r, sample_rate, None, None, cepstra), cepstra(d, sample_rate)
    if not (len(cr) and len(cd)):
        return 0.0, 0
    _, path = fastdtw(cr, cd, dist=euclidean)
    i, j = np.array(path).T
    return float(np.sqrt(((cr[i] - cd[j]) ** 2).sum(-1)).sum()), len(path)


def mcd(ref: AudioLike, deg: AudioLike, sample_rate: int = BIGVGAN_RATE) -> dict[str, float]:
    """``mcd_bigvgan`` (dB, this file alone; NaN when shorter than one frame) and ``mcd_frames``."""
    total, frames = mcd_terms(ref, deg, sample_rate)
    return {"mcd_bigvgan": MCD_DB * total / frames if frames else math.nan, "mcd_frames": frames}


@torch.no_grad()
def cargan_track(
    audio: AudioLike, sample_rate: int = BIGVGAN_RATE, model: str = "full", device=None
) -> tuple[torch.Tensor, torch.Tensor]:
    """(pitch (1, N) Hz, periodicity (1, N)) of 24 kHz ``audio`` (T,) as CARGAN's ``from_audio`` makes
    them from its 22.05 kHz resampling; N = ``samples_22k // 256``."""
    import torchcrepe

    crepe.check_model(model)
    check_rate(sample_rate)
    x22 = _at(torch.as_tensor(audio, dtype=torch.float32).reshape(-1), sample_rate, CARGAN_RATE)
    target = x22.shape[-1] // CARGAN_HOP
    x = _at(x22, CARGAN_RATE, crepe.CREPE_RATE)
    x = torch.nn.functional.pad(x[None, None], (CREPE_PAD, CREPE_PAD), mode="reflect")[0]  # (1, T)
    dev = torch.device(device) if device is not None else crepe.default_device()
    probs = crepe.probabilities(x[0], model, dev, CREPE_HOP)
    with crepe.same_dither():
        pitch, periodicity = torchcrepe.postprocess(
            probs, crepe.FMIN, crepe.FMAX, torchcrepe.decode.viterbi, return_periodicity=True
        )
    periodicity = torchcrepe.threshold.Silence(SILENCE_DB)(
        periodicity, x, crepe.CREPE_RATE, hop_length=CREPE_HOP, pad=False
    )
    if pitch.shape[1] != target:  # the integer hop does not give exactly one frame per 256 samples
        size = {"size": target, "mode": "linear", "align_corners": False}
        pitch = 2 ** torch.nn.functional.interpolate(torch.log2(pitch)[None], **size)[0]
        periodicity = torch.nn.functional.interpolate(periodicity[None], **size)[0]
    return pitch, periodicity


def voiced(pitch: torch.Tensor, periodicity: torch.Tensor) -> np.ndarray:
    """(N,) bool: the frames ``torchcrepe.threshold.Hysteresis()`` keeps voiced."""
    import torchcrepe

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # nanmean of a track with no voiced frame
        kept = torchcrepe.threshold.Hysteresis()(pitch, periodicity)
    return ~np.isnan(kept.reshape(-1).numpy())


def cargan_metrics(
    ref: AudioLike, deg: AudioLike, sample_rate: int = BIGVGAN_RATE, model: str = "full", device=None
) -> dict[str, float]:
    """``periodicity_bigvgan`` and ``vuv_f1_bigvgan`` of this file alone, and the counts that pool them
    (``cargan_frames``, ``cargan_tp``, ``cargan_fp``, ``cargan_fn``)."""
    r, d = _pair(ref, deg, sample_rate)
    true_pitch, true_periodicity = crepe.reference_track(r, sample_rate, model, device, cargan_track)
    pred_pitch, pred_periodicity = cargan_track(d, sample_rate, model, device)
    frames = true_periodicity.shape[-1]
    squared = float((true_periodicity - pred_periodicity).double().pow(2).sum())
    tp, fp, fn = vuv_counts(voiced(true_pitch, true_periodicity), voiced(pred_pitch, pred_periodicity))
    return {
        "periodicity_bigvgan": math.sqrt(squared / frames) if frames else math.nan,
        "vuv_f1_bigvgan": f1_from_counts(tp, fp, fn) if frames else math.nan,
        "cargan_frames": frames,
        "cargan_tp": tp,
        "cargan_fp": fp,
        "cargan_fn": fn,
    }


def _column(rows: Sequence[dict], key: str) -> np.ndarray:
    return np.array([r[key] for r in rows], dtype=np.float64)


def pooled_mcd(rows: Sequence[dict]) -> float:
    """evaluate.py's MCD over the files of ``rows`` (each with ``mcd_bigvgan`` and ``mcd_frames``)."""
    frames, values = _column(rows, "mcd_frames"), _column(rows, "mcd_bigvgan")
    ok = frames > 0
    return float((values[ok] * frames[ok]).sum() / frames[ok].sum()) if ok.any() else math.nan


def pooled_periodicity(rows: Sequence[dict]) -> float:
    """CARGAN's periodicity RMSE over every frame of the files of ``rows``."""
    frames, values = _column(rows, "cargan_frames"), _column(rows, "periodicity_bigvgan")
    ok = frames > 0
    return float(np.sqrt((values[ok] ** 2 * frames[ok]).sum() / frames[ok].sum())) if ok.any() else math.nan


def pooled_vuv_f1(rows: Sequence[dict]) -> float:
    """CARGAN's V/UV F1 from the TP, FP and FN counts summed over the files of ``rows``."""
    if not rows:
        return math.nan
    return f1_from_counts(*(float(_column(rows, f"cargan_{k}").sum()) for k in ("tp", "fp", "fn")))
