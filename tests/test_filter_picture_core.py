"""The Filters lesson picture's numbers against core.lessons.filters.conv2d, and the weight-sharing count."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.lessons import filters
from core.lessons.filter_picture import NEIGHBOURHOOD, absolute, filter_picture, origin, weight_sharing
from core.lessons.picture import MAX_CELLS, fmt


@settings(max_examples=40, deadline=None)
@given(h=st.integers(3, 40), w=st.integers(3, 40), k=st.sampled_from([1, 3, 5, 7]), s=st.integers(1, 4),
       pad=st.integers(0, 6), d=st.integers(1, 4), seed=st.integers(0, 2**16), where=st.floats(0, 1))
def test_every_step_is_the_conv2d_output(h, w, k, s, pad, d, seed, where):
    rng = np.random.default_rng(seed)
    image, kernel = rng.random((h, w)), rng.normal(size=(k, k))
    padding = ((pad, pad), (pad, pad))
    if h + 2 * pad < d * (k - 1) + 1 or w + 2 * pad < d * (k - 1) + 1:
        return
    out = filters.conv2d(image, kernel[None], s, padding, d)[0]
    r, c = int(where * (out.shape[0] - 1)), int((1 - where) * (out.shape[1] - 1))
    pic = filter_picture(image, kernel, s, padding, d, out.shape, r, c, "k")
    assert sum(g.rows * g.cols for g in pic.grids) <= MAX_CELLS
    assert absolute(out.shape, r, c, pic.selected) == (r, c)
    for index, step in enumerate(pic.steps):
        rr, cc = absolute(out.shape, r, c, index)
        assert step.result == f"sum = {fmt(out[rr, cc])}"
        assert pic.grids[2].text[index] == fmt(out[rr, cc])
        window = [float(t.replace("−", "-")) for t in pic.window_values(index)]
        assert len(step.products) == k * k == len(window)


def test_block_stays_inside_the_output_and_holds_the_pixel():
    assert origin((100, 5), 0, 4) == (0, NEIGHBOURHOOD, 0, 5)
    assert origin((100, 100), 99, 50) == (100 - NEIGHBOURHOOD, NEIGHBOURHOOD, 50 - NEIGHBOURHOOD // 2, NEIGHBOURHOOD)


def test_padding_cells_are_labelled_and_outside_the_axis_labels():
    image = np.ones((6, 6))
    pic = filter_picture(image, np.ones((3, 3)), 1, ((1, 1), (1, 1)), 1, (6, 6), 0, 0, "box")
    grid_in = pic.grids[0]
    assert grid_in.row_labels[0] == "" and grid_in.row_labels[1] == "0"
    assert pic.steps[0].result == "sum = 4"  # a corner reads 4 image pixels and 5 zeros


def test_weight_sharing_counts_a_conv_against_a_locally_connected_layer():
    ws = weight_sharing((188, 188), (5, 5))
    assert (ws.conv, ws.positions, ws.local) == (26, 188 * 188, 188 * 188 * 26)
    assert ws.ratio == pytest.approx(188 * 188)
    many = weight_sharing((26, 26), (3, 3), in_channels=3, out_channels=8, bias=False)
    assert (many.conv, many.local) == (8 * 27, 26 * 26 * 8 * 27)
