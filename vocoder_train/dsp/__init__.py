"""The one signal-processing core: framing and the ISTFT trim rule (also on the causal grid), the
head's spectrum, log-mel with one floor and the mel filterbank, fast Griffin-Lim and the mel
projection, the STFT with a hand-written backward (:mod:`.stft`), a log-mel front end computed for
any of its settings (:mod:`.mel_settings`) and the comparison of a foreign mel front end with ours
(:mod:`.frontend`, behind ``vocoder-frontend-check``).

Heads, inference modules, losses, metrics and tools call these functions; this package imports
only torch, torchaudio and numpy.
"""

from vocoder_train.dsp.framing import (
    MEL_PADDINGS,
    PADDINGS,
    carry_overlap_add,
    causal_envelope,
    causal_frames,
    causal_istft,
    causal_latency,
    causal_normalize,
    causal_padding,
    expected_frames,
    frame_hop,
    head_stft,
    istft,
    istft_trim,
    overlap_add,
    overlap_add_basis,
    synthesis_overlap_add,
    trim_ends,
    window_envelope,
)
from vocoder_train.dsp.griffin_lim import griffin_lim, mel_projection
from vocoder_train.dsp.mel import LOG_FLOOR, log_l1, mel_filterbank, safe_log
from vocoder_train.dsp.spectrum import MAG_MAX, head_magnitude_phase, head_real_imag, head_spectrum
from vocoder_train.dsp.stft import StftFunction

__all__ = [
    "LOG_FLOOR",
    "MAG_MAX",
    "MEL_PADDINGS",
    "PADDINGS",
    "StftFunction",
    "carry_overlap_add",
    "causal_envelope",
    "causal_frames",
    "causal_istft",
    "causal_latency",
    "causal_normalize",
    "causal_padding",
    "expected_frames",
    "frame_hop",
    "griffin_lim",
    "head_magnitude_phase",
    "head_real_imag",
    "head_spectrum",
    "head_stft",
    "istft",
    "istft_trim",
    "log_l1",
    "mel_filterbank",
    "mel_projection",
    "overlap_add",
    "overlap_add_basis",
    "safe_log",
    "synthesis_overlap_add",
    "trim_ends",
    "window_envelope",
]
