"""Light data augmentation done batched on tensors: small random shifts, rotations and scalings.

One ``affine_grid`` + ``grid_sample`` call warps a whole batch (no per-sample Python, no torchvision).
The random numbers come from an explicit ``torch.Generator`` so a seed reproduces the same warps.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def random_affine(
    x: torch.Tensor,
    generator: torch.Generator | None = None,
    max_shift_px: float = 2.0,
    max_rotate_deg: float = 10.0,
    max_scale: float = 0.1,
) -> torch.Tensor:
    """Warp each image of ``x`` (N, C, H, W) by its own random shift, rotation and scale.

    Shifts are uniform in ±``max_shift_px`` pixels, rotations in ±``max_rotate_deg`` degrees, scales in
    1 ± ``max_scale``. Pixels pulled in from outside the image copy the border (the MNIST border is
    background), so the normalisation of the background is kept.
    """
    n, _, h, w = x.shape
    # Drawn on the generator's device (MPS runs use a CPU generator), then moved: (N, 4) in [-1, 1).
    draw_on = generator.device if generator is not None else x.device
    u = (torch.rand(n, 4, generator=generator, device=draw_on) * 2 - 1).to(x.device, x.dtype)
    angle = u[:, 0] * math.radians(max_rotate_deg)
    scale = 1 + u[:, 1] * max_scale
    # affine_grid maps output coordinates to input coordinates in [-1, 1]: a shift of d pixels is 2d/size.
    tx = u[:, 2] * (2 * max_shift_px / w)
    ty = u[:, 3] * (2 * max_shift_px / h)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack(
        [torch.stack([cos, -sin, tx], dim=1), torch.stack([sin, cos, ty], dim=1)], dim=1
    )  # (N, 2, 3)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)  # (N, H, W, 2)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
