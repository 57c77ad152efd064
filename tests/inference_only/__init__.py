"""Tests for the inference-only install (requirements-inference.txt: no torch, no onnx); see .ci/run."""
