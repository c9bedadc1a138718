"""Audio files and checkpoints: everything that reads or writes the disk (models are built from them by
:mod:`vocoder_train.models.store`)."""
