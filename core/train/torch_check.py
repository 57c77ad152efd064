"""Run the real PyTorch layer to cross-check the arithmetic (imports torch lazily, on demand only).

Kept apart from ``core.arithmetic`` so that pages which never ask for the check never load torch.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_CHECK_MACS = 50_000_000  # above this, check with 1→1 channels: H×W do not depend on channels


@dataclass(frozen=True)
class TorchCheck:
    shape: tuple[int, ...] | None  # (N, C, H, W) from the real forward pass
    error: str | None  # torch's own error message when it refuses the layer
    reduced_channels: bool = False  # True when run with 1→1 channels to stay instant


def torch_output_shape(
    transposed: bool, in_hw: tuple[int, int], in_channels: int, out_channels: int, kernel: tuple[int, int],
    stride: tuple[int, int], padding: tuple[int, int] | str, dilation: tuple[int, int],
    output_padding: tuple[int, int] = (0, 0),
) -> TorchCheck:
    """Build the real ``nn.Conv2d`` / ``nn.ConvTranspose2d`` and run it on zeros of shape (1, C, H, W)."""
    try:
        import torch
        from torch import nn
    except ImportError:
        return TorchCheck(None, "PyTorch is not installed here (inference-only install), so the live check is off.")
    macs = in_hw[0] * in_hw[1] * in_channels * out_channels * kernel[0] * kernel[1]
    reduced = macs > MAX_CHECK_MACS
    c_in, c_out = (1, 1) if reduced else (in_channels, out_channels)
    try:
        if transposed:
            layer = nn.ConvTranspose2d(c_in, c_out, kernel, stride, padding, output_padding=output_padding,
                                       dilation=dilation, bias=False)
        else:
            layer = nn.Conv2d(c_in, c_out, kernel, stride, padding, dilation=dilation, bias=False)
        with torch.inference_mode():
            out = layer(torch.zeros(1, c_in, *in_hw))  # (N, C, H, W)
    except (RuntimeError, ValueError) as exc:
        return TorchCheck(None, str(exc).strip().split("\n")[0], reduced)
    shape = (out.shape[0], out_channels, out.shape[2], out.shape[3])
    return TorchCheck(tuple(int(x) for x in shape), None, reduced)


def check_layer(spec, in_hw: tuple[int, int]) -> TorchCheck:
    """``torch_output_shape`` for a ``core.lessons.conv_layer.Conv2dSpec`` (the page's one layer config)."""
    return torch_output_shape(spec.transposed, in_hw, spec.in_channels, spec.out_channels, spec.kernel,
                              spec.stride, spec.torch_padding(), spec.dilation,
                              (spec.output_padding, spec.output_padding))
