"""Inference modules: fused CPU decode and export-friendly graphs of a trained generator."""
