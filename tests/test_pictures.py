"""ui/pictures.py: enlargement, tiles and PNG bytes, checked against NumPy and a PNG decoder."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from ui.pictures import enlarge, factor_for, png, tile


def test_enlarge_makes_each_pixel_a_square_grey_and_colour():
    grey = np.arange(6, dtype=np.uint8).reshape(2, 3)
    big = enlarge(grey, 3)
    assert big.shape == (6, 9)
    assert np.array_equal(big, np.kron(grey, np.ones((3, 3), np.uint8)))
    rgb = np.arange(2 * 2 * 3, dtype=np.uint8).reshape(2, 2, 3)
    big = enlarge(rgb, 2)
    assert big.shape == (4, 4, 3)
    assert np.array_equal(big[2:4, 0:2], np.broadcast_to(rgb[1, 0], (2, 2, 3)))
    assert enlarge(grey, 0) is not None and enlarge(grey, 0).shape == (2, 3)  # never smaller


@pytest.mark.parametrize(("size", "target", "most", "want"), [(28, 140, None, 5), (28, 100, None, 3),
                                                             (300, 140, None, 1), (4, 360, 24, 24)])
def test_factor_for(size, target, most, want):
    assert factor_for(size, target, most) == want


def test_tile_places_maps_row_by_row_with_gaps():
    maps = np.stack([np.full((2, 2), i + 1.0) for i in range(5)])
    out = tile(maps, cols=3, gap=1, fill=np.nan)
    assert out.shape == (2 * 3 - 1, 3 * 3 - 1)
    assert (out[0:2, 0:2] == 1).all() and (out[0:2, 6:8] == 3).all() and (out[3:5, 3:5] == 5).all()
    assert np.isnan(out[2]).all() and np.isnan(out[:, 2]).all()  # the gaps
    assert np.isnan(out[3:5, 6:8]).all()  # the empty sixth place
    assert tile(maps[:2], cols=8, gap=2, fill=0.25).shape == (2, 2 * 4 - 2)  # fewer maps than columns


def test_png_round_trips_uint8_and_rounds_floats():
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(png(rgb)))), rgb)
    grey = np.array([[0.0, 0.5, 1.0, 2.0, -1.0]], np.float32)
    back = np.asarray(Image.open(io.BytesIO(png(grey))))
    assert back.tolist() == [[0, 128, 255, 255, 0]]
