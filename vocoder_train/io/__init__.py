"""Audio files, checkpoints and the model store: everything that reads or writes the disk."""
