"""Audio I/O, manifests, datasets and augmentation."""
