"""The base configuration the benchmarks run at, and the upstream peers rebuilt from vocos' own modules.

Base config: vocos' 24 kHz mel model (100 mels, n_fft 1024, hop 256; backbone dim 512 / 1536, 8
layers), MPD + MRD. :class:`UpstreamStep` is the training step of ``vocos/experiment.py``;
:func:`make_batches` the speech-like inputs that ours and the peers both see.
"""

from __future__ import annotations

import torch

SR, N_FFT, HOP, N_MELS = 24000, 1024, 256, 100
TERMS = ("d_mpd", "d_mrd", "d_total", "g_mel", "g_adv_mpd", "g_fm_mpd", "g_adv_mrd", "g_fm_mrd", "g_total")


def make_batches(n: int, batch: int, segment: int, seed: int = 0) -> list[torch.Tensor]:
    """Speech-like random batches: harmonic tones with vibrato plus noise, random levels."""
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(segment) / SR
    out = []
    for _ in range(n):
        f0 = 80 + 220 * torch.rand(batch, 1, generator=g)
        phase = 2 * torch.pi * f0 * (t + 0.003 * torch.sin(2 * torch.pi * 5 * t))
        x = sum(0.3 / k * torch.sin(k * phase) for k in range(1, 8))
        x = x + 0.02 * torch.randn(batch, segment, generator=g)
        out.append(x * (0.3 + 0.6 * torch.rand(batch, 1, generator=g)))
    return out


def build_upstream_generator():
    from vocos.feature_extractors import MelSpectrogramFeatures
    from vocos.heads import ISTFTHead
    from vocos.models import VocosBackbone
    from vocos.pretrained import Vocos

    return Vocos(
        MelSpectrogramFeatures(SR, N_FFT, HOP, N_MELS, padding="center"),
        VocosBackbone(N_MELS, 512, 1536, 8),
        ISTFTHead(512, N_FFT, HOP, padding="same"),
    )


ENCODEC_BANDWIDTHS = (1.5, 3.0, 6.0, 12.0)


def build_upstream_encodec_generator():
    """vocos' EnCodec model (configs/vocos-encodec.yaml). vocos builds EnCodec with ``pretrained=True``,
    which torch hub serves from ``$TORCH_HOME/hub/checkpoints/encodec_24khz-d7cc33bc.th`` when the file
    is there (the benchmarks and tests put one there; nothing is downloaded)."""
    from vocos.feature_extractors import EncodecFeatures
    from vocos.heads import ISTFTHead
    from vocos.models import VocosBackbone
    from vocos.pretrained import Vocos

    return Vocos(
        EncodecFeatures("encodec_24khz", list(ENCODEC_BANDWIDTHS), train_codebooks=False),
        VocosBackbone(128, 384, 1152, 8, adanorm_num_embeddings=len(ENCODEC_BANDWIDTHS)),
        ISTFTHead(384, 1280, 320, padding="same"),
    )


def _fp32(x):
    if torch.is_tensor(x):
        return x.float() if x.is_floating_point() else x  # ids (a bandwidth) stay integers
    if isinstance(x, (list, tuple)):
        return type(x)(_fp32(v) for v in x)
    return x


def fp32_island(fn, device_type: str = "cpu"):
    """``fn`` with autocast (on ``device_type``) off and its tensor arguments (also inside lists) in
    fp32: the STFT regions and the losses of a bf16 step, as ours runs them."""

    def run(*args, **kwargs):
        with torch.autocast(device_type, enabled=False):
            return fn(*_fp32(args), **{k: _fp32(v) for k, v in kwargs.items()})

    return run


class UpstreamStep:
    """The Vocos training step of ``vocos/experiment.py`` (``VocosExp.training_step``), fp32.

    Lightning 1.8's automatic optimization with two optimizers calls the step twice per batch:
    optimizer 0 (discriminators: generator output under no_grad, D on real and generated audio
    separately) and optimizer 1 (generator: a second generator forward, D on both with the D
    parameters' ``requires_grad`` toggled off). mrd_loss_coeff 0.1, mel coefficient 45.

    ``encodec=True``: ``VocosEncodecExp``'s step instead: the EnCodec generator
    (:func:`build_upstream_encodec_generator`), MPD and MRD conditioned on the bandwidth id,
    mrd_loss_coeff 1.0; :meth:`step` takes the bandwidth id (vocos draws one per batch).
    """

    def __init__(self, seed: int = 0, device: str = "cpu", encodec: bool = False):
        from vocos.discriminators import MultiPeriodDiscriminator, MultiResolutionDiscriminator
        from vocos.loss import (
            DiscriminatorLoss,
            FeatureMatchingLoss,
            GeneratorLoss,
            MelSpecReconstructionLoss,
        )

        torch.manual_seed(seed)
        self.encodec = encodec
        self.gen = build_upstream_encodec_generator() if encodec else build_upstream_generator()
        ids = len(ENCODEC_BANDWIDTHS) if encodec else None
        self.mpd = MultiPeriodDiscriminator(num_embeddings=ids)
        self.mrd = MultiResolutionDiscriminator(num_embeddings=ids)
        self.disc_loss, self.gen_loss = DiscriminatorLoss(), GeneratorLoss()
        self.fm_loss, self.mel_loss = FeatureMatchingLoss(), MelSpecReconstructionLoss(sample_rate=SR)
        self.mrd_coeff, self.mel_coeff = (1.0 if encodec else 0.1), 45.0
        self.device = device
        self.device_type = torch.device(device).type
        for m in (self.gen, self.mpd, self.mrd, self.mel_loss):
            m.to(device)
        self.g_params = [
            *self.gen.feature_extractor.parameters(),
            *self.gen.backbone.parameters(),
            *self.gen.head.parameters(),
        ]
        self.d_params = [*self.mpd.parameters(), *self.mrd.parameters()]
        # Lightning's toggle restores each parameter's own flag: the frozen EnCodec stays frozen
        self.trains = {p: p.requires_grad for p in self.g_params + self.d_params}
        self.reset_optimizers()
        for m in (self.gen, self.mpd, self.mrd):
            m.train()

        for d in self.mrd.discriminators:  # its STFT and the losses in fp32 under autocast, as ours
            d.spectrogram = fp32_island(d.spectrogram, self.device_type)
        for loss in (self.mel_loss, self.disc_loss, self.gen_loss, self.fm_loss):
            loss.forward = fp32_island(loss.forward, self.device_type)

    def reset_optimizers(self) -> None:
        self.opt_d = torch.optim.AdamW(self.d_params, lr=5e-4, betas=(0.8, 0.9))
        self.opt_g = torch.optim.AdamW(self.g_params, lr=5e-4, betas=(0.8, 0.9))

    def generator(self, audio, **kwargs):
        # Trimmed to the input length: with the base config (mel padding "center", ISTFT "same")
        # the head returns frames * hop = T + hop samples, and the feature-matching loss needs
        # equal lengths (our generator trims the same way, ``match_length``). Mel features and
        # the ISTFT head in fp32 under autocast, the backbone in the autocast dtype (as ours).
        features = fp32_island(self.gen.feature_extractor, self.device_type)(audio, **kwargs)
        hidden = self.gen.backbone(features, **kwargs)
        return fp32_island(self.gen.head, self.device_type)(hidden)[..., : audio.shape[-1]]

    def _toggle(self, trainable, frozen):  # Lightning 1.8 toggle_optimizer
        for p in frozen:
            p.requires_grad_(False)
        for p in trainable:
            p.requires_grad_(self.trains[p])

    def step(
        self, audio: torch.Tensor, precision: str = "fp32", bandwidth_id: int | None = None
    ) -> dict[str, float]:
        """One iteration in fp32, or under bf16 autocast ("bf16") with the STFTs in fp32; the EnCodec
        step at ``bandwidth_id``."""
        kwargs = {}
        if self.encodec:
            kwargs["bandwidth_id"] = torch.tensor([int(bandwidth_id or 0)], device=self.device)
        with torch.autocast(self.device_type, dtype=torch.bfloat16, enabled=precision == "bf16"):
            return self._step(audio.to(self.device), **kwargs)

    def _step(self, audio: torch.Tensor, **kwargs) -> dict[str, float]:
        out = {}
        # optimizer 0: discriminators
        self._toggle(self.d_params, self.g_params)
        with torch.no_grad():
            audio_hat = self.generator(audio, **kwargs)
        real_mp, gen_mp, _, _ = self.mpd(y=audio, y_hat=audio_hat, **kwargs)
        real_mrd, gen_mrd, _, _ = self.mrd(y=audio, y_hat=audio_hat, **kwargs)
        loss_mp, loss_mp_real, _ = self.disc_loss(disc_real_outputs=real_mp, disc_generated_outputs=gen_mp)
        loss_mrd, loss_mrd_real, _ = self.disc_loss(
            disc_real_outputs=real_mrd, disc_generated_outputs=gen_mrd
        )
        loss_mp, loss_mrd = loss_mp / len(loss_mp_real), loss_mrd / len(loss_mrd_real)
        loss_d = loss_mp + self.mrd_coeff * loss_mrd
        self.opt_d.zero_grad()
        loss_d.backward()
        self.opt_d.step()
        out.update(d_mpd=loss_mp.item(), d_mrd=loss_mrd.item(), d_total=loss_d.item())
        del real_mp, gen_mp, real_mrd, gen_mrd, loss_d
        # optimizer 1: generator
        self._toggle(self.g_params, self.d_params)
        audio_hat = self.generator(audio, **kwargs)
        _, gen_mp, fmap_rs_mp, fmap_gs_mp = self.mpd(y=audio, y_hat=audio_hat, **kwargs)
        _, gen_mrd, fmap_rs_mrd, fmap_gs_mrd = self.mrd(y=audio, y_hat=audio_hat, **kwargs)
        loss_gen_mp, list_mp = self.gen_loss(disc_outputs=gen_mp)
        loss_gen_mrd, list_mrd = self.gen_loss(disc_outputs=gen_mrd)
        loss_gen_mp, loss_gen_mrd = loss_gen_mp / len(list_mp), loss_gen_mrd / len(list_mrd)
        loss_fm_mp = self.fm_loss(fmap_r=fmap_rs_mp, fmap_g=fmap_gs_mp) / len(fmap_rs_mp)
        loss_fm_mrd = self.fm_loss(fmap_r=fmap_rs_mrd, fmap_g=fmap_gs_mrd) / len(fmap_rs_mrd)
        mel = self.mel_loss(audio_hat, audio)
        loss_g = (
            loss_gen_mp
            + self.mrd_coeff * loss_gen_mrd
            + loss_fm_mp
            + self.mrd_coeff * loss_fm_mrd
            + self.mel_coeff * mel
        )
        self.opt_g.zero_grad()
        loss_g.backward()
        self.opt_g.step()
        self._toggle(self.g_params + self.d_params, [])  # each parameter back to its own flag
        out.update(
            g_mel=float(mel),
            g_adv_mpd=float(loss_gen_mp),
            g_fm_mpd=float(loss_fm_mp),
            g_adv_mrd=float(loss_gen_mrd),
            g_fm_mrd=float(loss_fm_mrd),
            g_total=float(loss_g),
        )
        return out
