"""DNSMOS (Microsoft's non-intrusive MOS predictors) from the ONNX models the ``speechmos`` package ships.

``speechmos.dnsmos.run(audio, 16000)`` scores a 16 kHz clip with the P.835 model
(``dnsmos_models/sig_bak_ovr.onnx``: speech signal, background and overall quality, each mapped by
DNSMOS' polynomial fit) and the P.808 model (``model_v8.onnx``). It scores 9.01 s windows a second
apart and averages them; a shorter clip is repeated until it is that long. Every score lies
in about [1, 5], higher is better. The models are files inside the package: nothing is
downloaded. Each clip costs about a second of CPU per 9 s window (onnxruntime on the CPU).

DNSMOS needs no reference, so an evaluation can score the reference the same way and show how
far the generated audio falls below the recording's own DNSMOS.
"""

from __future__ import annotations

import numpy as np

from vocoder_train.metrics._common import AudioLike, resample_np, to_numpy

DNSMOS_RATE = 16000  # the rate the DNSMOS models were trained at
# metric name -> key of speechmos' result
KEYS = {
    "dnsmos_sig": "sig_mos",
    "dnsmos_bak": "bak_mos",
    "dnsmos_ovrl": "ovrl_mos",
    "dnsmos_p808": "p808_mos",
}


def dnsmos(audio: AudioLike, sample_rate: int) -> dict[str, float]:
    """``dnsmos_sig``, ``dnsmos_bak``, ``dnsmos_ovrl`` (P.835) and ``dnsmos_p808`` of mono ``audio`` (T,).

    ``audio`` (numpy array or tensor at ``sample_rate``) is resampled to 16 kHz with
    :func:`vocoder_train.io.audio.resample` and clipped to [-1, 1], as writing it to a 16-bit file
    would (speechmos refuses samples outside that range). All NaN for a silent or empty clip,
    which DNSMOS cannot score.
    """
    from speechmos import dnsmos as speechmos_dnsmos

    x = resample_np(to_numpy(audio), int(sample_rate), DNSMOS_RATE)
    if x.size == 0 or not np.any(x):
        return {name: float("nan") for name in KEYS}
    scores = speechmos_dnsmos.run(np.clip(x, -1.0, 1.0).astype(np.float32), DNSMOS_RATE)
    return {name: float(scores[key]) for name, key in KEYS.items()}
