"""Architectures, one import for the pages: specs (``core.archspec``), the layer table and memory estimate
(``core.layer_table``), and — imported only when asked for — the torch network (``core.convnet``).

``from core import models as cm`` never imports torch: pages of the inference path read layer tables
too. ``cm.build_model`` and the other torch names load ``core.convnet`` on first use.
"""

from __future__ import annotations

from typing import Any

from core.archspec import *  # noqa: F401,F403
from core.archspec import __all__ as _SPEC_NAMES
from core.layer_table import *  # noqa: F401,F403
from core.layer_table import __all__ as _TABLE_NAMES

_TORCH_NAMES = ("ConvNet", "SeededDropout", "build_model", "first_conv_weight", "init_weights")


def __getattr__(name: str) -> Any:
    if name in _TORCH_NAMES:
        from core import convnet

        return getattr(convnet, name)
    raise AttributeError(f"module 'core.models' has no attribute {name!r}")


__all__ = [*_SPEC_NAMES, *_TABLE_NAMES, *_TORCH_NAMES]
