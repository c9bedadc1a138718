"""vocoder_train: train, fine-tune and export Vocos neural vocoders."""

__version__ = "0.1.0"
