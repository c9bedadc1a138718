"""Tiny random transformers codecs (EncodecModel, DacModel, MimiModel) saved as local folders, and the
overrides that train a test-size decoder of each."""

from __future__ import annotations

from pathlib import Path

import torch

# family -> (experiment, config class, model class, config args): the experiments' rates and frame layouts
# (EnCodec at 16 kHz: its 50 frames a second are 480 samples at the experiment's 24 kHz, so resampling is
# exercised), channels and layers as small as transformers allows
TINY = {
    "encodec": (
        "codec_encodec_24khz",
        "EncodecConfig",
        "EncodecModel",
        dict(
            sampling_rate=16000,
            num_filters=4,
            hidden_size=16,
            codebook_dim=16,
            num_lstm_layers=1,
            upsampling_ratios=[8, 5, 4, 2],
            target_bandwidths=[1.0, 2.0],
            codebook_size=64,
        ),
    ),
    "dac": (
        "codec_dac_44khz",
        "DacConfig",
        "DacModel",
        dict(
            sampling_rate=44100,
            encoder_hidden_size=4,
            decoder_hidden_size=16,
            downsampling_ratios=[2, 4, 8, 8],
            hidden_size=32,
            n_codebooks=3,
            codebook_size=64,
            codebook_dim=4,
        ),
    ),
    "mimi": (
        "codec_mimi_24khz",
        "MimiConfig",
        "MimiModel",
        dict(
            sampling_rate=24000,
            frame_rate=25.0,  # not transformers' default, which a config that is not read would also give
            num_filters=4,
            hidden_size=16,
            upsampling_ratios=[8, 6, 5, 2],
            num_hidden_layers=1,
            intermediate_size=32,
            num_attention_heads=2,
            num_key_value_heads=2,
            head_dim=8,
            num_quantizers=4,
            num_semantic_quantizers=1,
            codebook_size=64,
            codebook_dim=8,
            vector_quantization_hidden_dimension=8,
            sliding_window=16,
            upsample_groups=16,
        ),
    ),
}

# family -> overrides of its experiment at test size: codebook counts the tiny codec has, the latent width,
# a narrow backbone, tiny discriminators, crops of a few frames
SIZES = {
    "encodec": [
        "model.generator.feature_extractor.codebooks=[3,6]",
        "model.generator.backbone.input_channels=16",
        "model.generator.backbone.adanorm_num_embeddings=2",
        "audio.hop_length=480",
        "model.generator.head.hop_length=480",
        "model.generator.head.n_fft=1920",
        "audio.segment_length=4800",
        "data.val_segment_length=9600",
    ],
    "dac": [
        "model.generator.feature_extractor.codebooks=[1,3]",
        "model.generator.backbone.input_channels=32",
        "model.generator.backbone.adanorm_num_embeddings=2",
        "audio.segment_length=5120",
        "data.val_segment_length=10240",
    ],
    "mimi": [
        "model.generator.feature_extractor.codebooks=[2,4]",
        "model.generator.backbone.input_channels=16",
        "model.generator.backbone.adanorm_num_embeddings=2",
        "audio.hop_length=240",  # 960 samples a codec frame, upsampled x4
        "model.generator.head.hop_length=240",
        "model.generator.head.n_fft=960",
        "audio.segment_length=5760",
        "data.val_segment_length=11520",
    ],
}


def save_tiny_codec(folder: Path, family: str, seed: int = 0) -> Path:
    """A random ``family`` codec saved by ``save_pretrained`` into ``folder`` (once); its path."""
    import transformers

    folder = Path(folder)
    if (folder / "config.json").is_file():
        return folder
    _, config_class, model_class, args = TINY[family]
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = getattr(transformers, model_class)(getattr(transformers, config_class)(**args)).eval()
        randomize_codebooks(model, seed)
    model.save_pretrained(str(folder))
    return folder


def randomize_codebooks(model, seed: int) -> None:
    """Codebook entries drawn at random: a fresh EnCodec's or Mimi's are zero (filled by k-means in
    training), which would map every code to the same latent."""
    g = torch.Generator().manual_seed(seed)
    for name, buf in model.named_buffers():
        if name.endswith("codebook.embed_sum"):
            buf.copy_(torch.randn(buf.shape, generator=g))
        elif name.endswith("codebook.cluster_usage"):
            buf.fill_(1.0)
        elif name.endswith("codebook.embed") or name.endswith("codebook.embed_avg"):
            buf.copy_(torch.randn(buf.shape, generator=g))
        elif name.endswith("codebook.cluster_size"):
            buf.fill_(1.0)
        elif name.endswith("codebook.inited"):
            buf.fill_(1.0)


def codec_overrides(family: str, path: Path) -> list[str]:
    """The family's experiment at test size, decoding the codec saved at ``path``."""
    from tests.helpers.codec import small_model

    return [f"experiment={TINY[family][0]}", f"codec.path={path}", *small_model(2), *SIZES[family]]
