"""Inference modules: fused CPU decode, chunked decoding and export-friendly graphs of a trained generator."""
