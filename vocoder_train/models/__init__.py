"""Generator (built from vocos' classes) and discriminators."""
