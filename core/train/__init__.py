"""Training: the only package of core that imports torch (device, tensors, loop, run, network, export).

OpenMP is configured here, before any module of the package imports torch (see ``core.threads``).
"""

import importlib.util

from core.threads import configure_openmp

configure_openmp()


def available() -> bool:
    """Whether PyTorch is installed (the inference-only install has no Train page), without importing it."""
    return importlib.util.find_spec("torch") is not None
