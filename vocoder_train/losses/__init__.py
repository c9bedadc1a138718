"""Spectral and adversarial losses."""
