"""vocoder_train.dsp against independent references: torch.stft/istft, vocos' ISTFT and head,
torchaudio's mel filterbank and Griffin-Lim, vocos' safe_log."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
import torchaudio
from vocos.heads import ISTFTHead
from vocos.modules import safe_log as vocos_safe_log
from vocos.spectral_ops import ISTFT

from tests.helpers.audio import tone
from vocoder_train.dsp import (
    LOG_FLOOR,
    MAG_MAX,
    StftFunction,
    expected_frames,
    griffin_lim,
    head_real_imag,
    head_spectrum,
    head_stft,
    istft,
    istft_trim,
    log_l1,
    mel_filterbank,
    mel_projection,
    overlap_add,
    overlap_add_basis,
    safe_log,
    trim_ends,
    window_envelope,
)

SR, N_FFT, HOP = 8000, 64, 16
GRIDS = [(64, 16, "same"), (64, 16, "center"), (60, 15, "same"), (50, 20, "same"), (50, 20, "center")]


def _spec(n_fft: int, frames: int, batch: int = 2, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    mag = torch.rand(batch, n_fft // 2 + 1, frames, generator=g) * 5
    return torch.polar(mag, torch.rand(mag.shape, generator=g) * 2 * torch.pi)


def _signal(seconds: float = 0.25) -> torch.Tensor:
    return tone(SR, seconds, 310.0)  # (1, T)


# -- framing ---------------------------------------------------------------------------------------


def test_trim_rule():
    assert istft_trim(1024, 256, "same") == 384 and istft_trim(1024, 256, "center") == 512
    assert istft_trim(60, 15, "same") == 22
    with pytest.raises(ValueError, match="padding='valid'"):
        istft_trim(64, 16, "valid")
    x = torch.arange(10.0)
    assert torch.equal(trim_ends(x, 2), x[2:8]) and torch.equal(trim_ends(x, 0), x)


@pytest.mark.parametrize("n_fft,hop", [(64, 16), (63, 16), (60, 15), (50, 20)])
def test_expected_frames_is_the_padded_stft_frame_count(n_fft, hop):
    window = torch.hann_window(n_fft)
    for n in range(n_fft, n_fft + 2 * hop + 1):
        x = torch.randn(1, n)
        center = torch.stft(x, n_fft, hop, window=window, center=True, return_complex=True)
        pad = istft_trim(n_fft, hop, "same")
        same = torch.stft(
            F.pad(x[None], (pad, pad), mode="reflect")[0],
            n_fft,
            hop,
            window=window,
            center=False,
            return_complex=True,
        )
        assert expected_frames(n, hop, n_fft, "center") == center.shape[-1], n
        assert expected_frames(n, hop, n_fft, "same") == same.shape[-1], n


@pytest.mark.parametrize("n_fft,hop,padding", GRIDS)
def test_istft_equals_vocos_istft(n_fft, hop, padding):
    spec = _spec(n_fft, 9)
    window = torch.hann_window(n_fft)
    ref = ISTFT(n_fft, hop, n_fft, padding)(spec)
    got = istft(spec, window, hop, padding)
    assert got.shape == ref.shape
    torch.testing.assert_close(got, ref, rtol=0, atol=1e-5 * ref.abs().max().item())
    frame_major = istft(spec.transpose(1, 2).contiguous(), window, hop, padding, freq_dim=-1)
    torch.testing.assert_close(frame_major, got, rtol=0, atol=1e-6 * ref.abs().max().item())


def test_center_istft_equals_torch_istft():
    spec = _spec(N_FFT, 12)
    window = torch.hann_window(N_FFT)
    ref = torch.istft(spec, N_FFT, HOP, window=window, center=True)
    torch.testing.assert_close(
        istft(spec, window, HOP, "center"), ref, rtol=0, atol=1e-5 * ref.abs().max().item()
    )


@pytest.mark.parametrize("n_fft,hop,padding", GRIDS)
def test_head_stft_is_torch_stft_on_the_heads_grid(n_fft, hop, padding):
    x = _signal()
    frames = x.shape[-1] // hop
    pad = istft_trim(n_fft, hop, padding)
    padded = F.pad(x, (pad, (frames - 1) * hop + n_fft))  # zeros before and (more than enough) after
    window = torch.hann_window(n_fft)
    ref = torch.stft(padded, n_fft, hop, window=window, center=False, return_complex=True)[..., :frames]
    got = head_stft(x, window, n_fft, hop, padding, frames)
    assert got.shape == (1, n_fft // 2 + 1, frames)
    torch.testing.assert_close(got, ref, rtol=0, atol=1e-5)


@pytest.mark.parametrize("n_fft,hop,padding", GRIDS)
def test_istft_inverts_head_stft(n_fft, hop, padding):
    x = torch.randn(2, 40 * hop, generator=torch.Generator().manual_seed(3))
    window = torch.hann_window(n_fft)
    frames = 40 if padding == "same" else 41
    y = istft(head_stft(x, window, n_fft, hop, padding, frames), window, hop, padding)
    n = min(x.shape[-1], y.shape[-1]) - n_fft  # the last frames see the zero padding
    torch.testing.assert_close(y[..., n_fft:n], x[..., n_fft:n], rtol=0, atol=1e-5)


@pytest.mark.parametrize("n,hop", [(64, 16), (60, 15), (50, 20)])
def test_overlap_add_forms_equal_fold(n, hop):
    frames = torch.randn(3, 7, n, generator=torch.Generator().manual_seed(n))
    ref = F.fold(frames.transpose(1, 2), (1, 6 * hop + n), (1, n), stride=(1, hop))[:, 0, 0]
    torch.testing.assert_close(overlap_add(frames, hop), ref)
    # the basis form with an identity basis overlap-adds the coefficients themselves
    torch.testing.assert_close(overlap_add_basis(frames.transpose(1, 2), torch.eye(n), hop), ref)


def test_window_envelope():
    window = torch.hann_window(N_FFT)
    env = window_envelope(window, HOP, 9)
    ref = overlap_add(window.square().expand(1, 9, N_FFT), HOP)[0]
    torch.testing.assert_close(env, ref)
    # a periodic Hann window at a quarter hop sums its squares to 1.5 wherever four frames overlap
    torch.testing.assert_close(env[N_FFT:-N_FFT], torch.full_like(env[N_FFT:-N_FFT], 1.5))


def test_window_envelope_length_stays_dynamic_in_a_trace():
    window = torch.hann_window(N_FFT)

    def envelope_of(spec: torch.Tensor) -> torch.Tensor:
        return window_envelope(window, HOP, spec.shape[-1])

    traced = torch.jit.trace(envelope_of, (torch.zeros(1, 3, 5),), check_trace=False)
    torch.testing.assert_close(traced(torch.zeros(1, 3, 11)), window_envelope(window, HOP, 11))


# -- the head's spectrum ---------------------------------------------------------------------------


@pytest.mark.parametrize("padding", ["same", "center"])
def test_head_spectrum_is_vocos_istfthead(padding):
    torch.manual_seed(0)
    head = ISTFTHead(16, N_FFT, HOP, padding=padding)
    hidden = torch.randn(2, 20, 16)
    x = head.out(hidden).transpose(1, 2)
    torch.testing.assert_close(head.istft(head_spectrum(x)), head(hidden))
    frame_major = head_spectrum(head.out(hidden), dim=-1)
    torch.testing.assert_close(frame_major.transpose(1, 2), head_spectrum(x))
    re, im = head_real_imag(x)
    torch.testing.assert_close(torch.complex(re, im), head_spectrum(x))


def test_head_magnitude_is_clipped():
    k = N_FFT // 2 + 1
    x = torch.cat([torch.full((1, k, 3), 50.0), torch.zeros(1, k, 3)], dim=1)  # log-magnitude 50, phase 0
    assert torch.equal(head_spectrum(x).abs(), torch.full((1, k, 3), MAG_MAX))


# -- logs and the mel filterbank -------------------------------------------------------------------


def test_safe_log_and_log_l1_are_vocos():
    x = torch.tensor([0.0, 1e-9, 1e-3, 2.0])
    torch.testing.assert_close(safe_log(x), vocos_safe_log(x))
    assert LOG_FLOOR == 1e-7
    a, b = torch.rand(2, 5, 7), torch.rand(2, 5, 7)
    torch.testing.assert_close(log_l1(a, b), (vocos_safe_log(a) - vocos_safe_log(b)).abs().mean())


@pytest.mark.parametrize("norm,mel_scale", [(None, "htk"), ("slaney", "slaney"), (None, "slaney")])
def test_mel_filterbank_is_torchaudio_melspectrogram(norm, mel_scale):
    mel = torchaudio.transforms.MelSpectrogram(
        SR, n_fft=N_FFT, n_mels=12, f_min=40.0, f_max=3500.0, norm=norm, mel_scale=mel_scale
    )
    fb = mel_filterbank(N_FFT // 2 + 1, 40.0, 3500.0, 12, SR, norm=norm, mel_scale=mel_scale)
    assert fb.shape == (12, N_FFT // 2 + 1)
    torch.testing.assert_close(fb, mel.mel_scale.fb.T)


def test_mel_filterbank_names_bad_settings():
    with pytest.raises(ValueError, match="mel_scale='bark'"):
        mel_filterbank(33, 0.0, 4000.0, 8, SR, mel_scale="bark")
    with pytest.raises(ValueError, match="norm='area'"):
        mel_filterbank(33, 0.0, 4000.0, 8, SR, norm="area")


# -- Griffin-Lim and the mel projection --------------------------------------------------------------


@pytest.mark.parametrize("momentum", [0.0, 0.99])
def test_griffin_lim_equals_torchaudio_away_from_the_edges(momentum):
    """Same algorithm as torchaudio's (which reflect-pads its analysis; ours sees zeros outside the
    signal): from zero phase, the outputs agree where the edges have not reached in 4 iterations."""
    x = _signal(0.5)
    window = torch.hann_window(N_FFT)
    mag = torch.stft(x, N_FFT, HOP, window=window, return_complex=True).abs()
    ref = torchaudio.functional.griffinlim(
        mag, window, N_FFT, HOP, N_FFT, power=1.0, n_iter=4, momentum=momentum, length=None, rand_init=False
    )
    got = griffin_lim(mag + 0j, window, HOP, "center", 4, momentum)
    assert got.shape == ref.shape
    edge = 6 * N_FFT
    torch.testing.assert_close(got[..., edge:-edge], ref[..., edge:-edge], rtol=0, atol=1e-4)


def test_griffin_lim_fixed_point_and_convergence():
    x = _signal()
    window = torch.hann_window(N_FFT)
    frames = x.shape[-1] // HOP
    spec = head_stft(x, window, N_FFT, HOP, "same", frames)
    torch.testing.assert_close(
        griffin_lim(spec, window, HOP, "same", 8)[..., N_FFT:-N_FFT],
        istft(spec, window, HOP, "same")[..., N_FFT:-N_FFT],
        rtol=0,
        atol=1e-4,
    )
    torch.manual_seed(0)
    start = spec.abs() * torch.exp(2j * torch.pi * torch.rand(spec.shape))

    def error(iters: int) -> float:
        got = head_stft(
            griffin_lim(start, window, HOP, "same", iters), window, N_FFT, HOP, "same", frames
        ).abs()
        return float(torch.linalg.norm(got - spec.abs()) / torch.linalg.norm(spec.abs()))

    errs = [error(i) for i in (0, 4, 16)]
    assert errs[0] > 0.3 and errs[1] < errs[0] and errs[2] < 0.5 * errs[0], errs


def test_mel_projection_moves_the_mel_to_the_input_mel():
    from vocos.feature_extractors import MelSpectrogramFeatures

    fe = MelSpectrogramFeatures(sample_rate=SR, n_fft=N_FFT, hop_length=HOP, n_mels=16, padding="center")
    x = _signal()
    log_mel = fe(x)
    # a tilted, too-quiet version of the signal
    window = torch.hann_window(N_FFT)
    spec = torch.stft(x, N_FFT, HOP, window=window, return_complex=True)
    tilt = torch.linspace(1.0, 0.1, spec.shape[-2])[:, None]
    y = torch.istft(spec * 0.3 * tilt, N_FFT, HOP, window=window, length=x.shape[-1])

    def err(a: torch.Tensor) -> float:
        return float((fe(a) - log_mel).abs().mean())

    assert torch.equal(mel_projection(y, log_mel, fe.mel_spec, 0), y)
    errs = [err(mel_projection(y, log_mel, fe.mel_spec, p)) for p in (0, 1, 3)]
    assert errs[1] < 0.5 * errs[0] and errs[2] < errs[1], errs


@pytest.mark.parametrize(
    "n_fft,hop,win,length", [(16, 4, 16, 37), (15, 3, 9, 40), (32, 5, 20, 33), (12, 5, 7, 41)]
)
def test_stft_function_gradcheck_and_matches_autograd(n_fft, hop, win, length):
    x = torch.randn(2, length, dtype=torch.float64, requires_grad=True)
    window = torch.hann_window(win, dtype=torch.float64)
    spec = lambda v: torch.view_as_real(StftFunction.apply(v, n_fft, hop, win, window))  # noqa: E731
    assert torch.autograd.gradcheck(spec, (x,))
    w = torch.randn(2, n_fft // 2 + 1, 1 + length // hop, 2, dtype=torch.float64)
    (g1,) = torch.autograd.grad((spec(x) * w).sum(), x)
    ref = torch.stft(x, n_fft, hop, win, window, return_complex=True)
    (g2,) = torch.autograd.grad((torch.view_as_real(ref) * w).sum(), x)
    torch.testing.assert_close(g1, g2, rtol=1e-10, atol=1e-12)
