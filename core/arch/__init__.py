"""Architectures without torch: the spec, the layer table with its memory estimate, training-job limits."""
