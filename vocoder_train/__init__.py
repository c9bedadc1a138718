"""vocoder_train: train, fine-tune and export Vocos neural vocoders."""

from omegaconf import OmegaConf

__version__ = "0.1.0"

# Config arithmetic, so derived sizes interpolate the one source of truth:
#   mdct_frame_len: ${mul:2,${audio.hop_length}}
OmegaConf.register_new_resolver("mul", lambda *xs: __import__("math").prod(int(x) for x in xs), replace=True)
