"""The lesson picture's payloads (core.lessons.picture, conv_picture, pool_picture) against NumPy written
out directly: every number the browser shows is one of these."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.arithmetic import conv_axis, never_visited
from core.lessons import conv_picture, pool_picture
from core.lessons.conv_layer import Conv2dSpec, unvisited_note
from core.lessons.picture import MAX_CELLS, MAX_PRODUCTS, PictureTooLarge, fmt
from core.lessons.pooling import channel_pool, pool2d


def direct_conv(x, kernel, s, p, d):
    """Cross-correlation written out with loops over the output (the definition, not a shortcut)."""
    xp = np.pad(x, p)
    k = kernel.shape[0]
    span = d * (k - 1) + 1
    out = (xp.shape[0] - span) // s + 1
    y = np.zeros((out, out))
    for r in range(out):
        for c in range(out):
            y[r, c] = (xp[r * s:r * s + span:d, c * s:c * s + span:d] * kernel).sum()
    return y


def scatter_transposed(x, kernel, s, p, d, op):
    """ConvTranspose2d written out: every input value times the kernel, added at i·s − p + d·m."""
    n, k = x.shape[0], kernel.shape[0]
    full = (n - 1) * s + d * (k - 1) + 1 + op
    y = np.zeros((full, full))
    for i in range(n):
        for j in range(n):
            for a in range(k):
                for b in range(k):
                    y[i * s + d * a, j * s + d * b] += x[i, j] * kernel[a, b]
    return y[p:full - p, p:full - p]


def number(t: str) -> float:
    return float(t.replace("−", "-"))


layers = st.tuples(st.integers(1, 9), st.integers(1, 4), st.integers(1, 3), st.integers(0, 3), st.integers(1, 3))


@settings(max_examples=60, deadline=None)
@given(layers)
def test_conv_picture_is_the_direct_convolution(layer):
    n, k, s, p, d = layer
    shape = Conv2dSpec(kernel=(k, k), stride=(s, s), padding=(p, p), dilation=(d, d)).shape((n, n))
    if not shape.ok:
        return
    x, kernel = conv_picture.example_layer(shape)
    pic = conv_picture.conv_picture(shape, x, kernel, 0)
    y = direct_conv(x, kernel, s, p, d)
    out = pic.grids[2]
    assert (out.rows, out.cols) == y.shape == shape.out_hw
    np.testing.assert_array_equal(np.array([number(t) for t in out.text]).reshape(y.shape), y)
    xp = np.pad(x, p)
    for step in {0, len(pic.steps) // 2, len(pic.steps) - 1}:
        r, c = divmod(step, y.shape[1])
        window = xp[r * s:r * s + d * (k - 1) + 1:d, c * s:c * s + d * (k - 1) + 1:d]
        assert pic.window_values(step) == [fmt(v) for v in window.ravel()]
        assert pic.steps[step].products == tuple(fmt(v) for v in (window * kernel).ravel())
        assert pic.steps[step].result == f"sum = {fmt(y[r, c])}"


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 5), st.integers(1, 4), st.integers(1, 3), st.integers(0, 2), st.integers(1, 2), st.integers(0, 2))
def test_transposed_picture_equals_the_scatter(n, k, s, p, d, op):
    spec = Conv2dSpec(kernel=(k, k), stride=(s, s), padding=(p, p), dilation=(d, d), transposed=True,
                      output_padding=op)
    shape = spec.shape((n, n))
    if not shape.ok:
        return
    x, kernel = conv_picture.example_layer(shape)
    expected = scatter_transposed(x, kernel, s, p, d, op)
    np.testing.assert_array_equal(conv_picture.transposed_conv(shape, x, kernel, op), expected)
    pic = conv_picture.transposed_picture(shape, x, kernel, op, 0)
    np.testing.assert_array_equal(np.array([number(t) for t in pic.grids[2].text]).reshape(expected.shape), expected)
    scatter = conv_picture.scatter_picture(shape, x, kernel, op, 0)  # the same output, one input cell at a time
    added = np.zeros(expected.shape)
    for step in scatter.steps:
        if len(step.boxes) == 3:
            for (r, c), v in zip(step.boxes[2].cells(), step.products):
                added[r, c] += number(v)
    np.testing.assert_allclose(added, expected)
    values = [number(t) for t, kind in zip(pic.grids[0].text, pic.grids[0].kind) if kind == 0]
    assert sorted(values) == sorted(x.ravel()) or p > d * (k - 1)  # padding may crop values away


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 7), st.integers(1, 4), st.integers(1, 3), st.integers(0, 2), st.integers(1, 2))
def test_conv_matrix_times_x_is_the_convolution_and_its_transpose_the_transposed_conv(n, k, s, p, d):
    shape = Conv2dSpec(kernel=(k, k), stride=(s, s), padding=(p, p), dilation=(d, d)).shape((n, n))
    if not shape.ok:
        return
    x, kernel = conv_picture.example_layer(shape)
    matrix = conv_picture.conv_matrix(shape, kernel)
    y = direct_conv(x, kernel, s, p, d)
    np.testing.assert_array_equal((matrix @ x.ravel()).reshape(y.shape), y)
    # Cᵀ is the transposed convolution with the same kernel, stride, padding and dilation, whose output
    # padding brings it back to n (the floor's leftover)
    op = n - ((y.shape[0] - 1) * s - 2 * p + d * (k - 1) + 1)
    if 0 <= op < max(s, d):
        g = np.arange(y.size, dtype=float).reshape(y.shape)
        np.testing.assert_array_equal((matrix.T @ g.ravel()).reshape(n, n), scatter_transposed(g, kernel, s, p, d, op))
    pic = conv_picture.matrix_picture(shape, x, kernel, 0)
    last = len(pic.steps) - 1
    assert pic.steps[last].result.endswith(f"= {fmt(y.ravel()[last])}")


def test_channel_pooling_is_numpy_over_the_channel_axis():
    stack = np.random.default_rng(3).normal(size=(4, 5, 6))
    for op, f in (("max", np.max), ("mean", np.mean), ("sum", np.sum)):
        np.testing.assert_array_equal(channel_pool(stack, op), f(stack, axis=0))
    pic = pool_picture.channel_picture(stack, ["a", "b", "c", "d"], "max", 7)
    r, c = divmod(7, 6)
    assert pic.window_values(7) == [fmt(v) for v in stack[:, r, c]]
    assert pic.steps[7].result == f"max = {fmt(stack[:, r, c].max())}"
    with pytest.raises(ValueError):
        channel_pool(stack, "median")


@pytest.mark.parametrize("op", ["max", "avg", "sum"])
@pytest.mark.parametrize("k, s, p, ceil", [(2, 2, 0, False), (3, 2, 1, False), (3, 2, 1, True), (2, 3, 1, True)])
def test_pool_picture_is_pool2d(op, k, s, p, ceil):
    x = np.random.default_rng(1).integers(-9, 10, (7, 7)).astype(float)
    res = pool2d(x, k, s, p, ceil, op)
    pic = pool_picture.pool_picture(x, res, op, 0)
    out = pic.grids[1]
    np.testing.assert_array_equal(np.array([t for t in out.text]), [fmt(v) for v in res.values.ravel()])
    for step in range(len(pic.steps)):
        r, c = divmod(step, res.values.shape[1])
        assert pic.steps[step].result.endswith(f"= {fmt(res.values[r, c])}")
        if op == "max":
            mark = pic.steps[step].mark
            ar, ac = res.argmax_rc()
            assert (mark.r0 - p, mark.c0 - p) == (ar[r, c], ac[r, c])


def test_a_picture_too_large_is_refused_and_products_are_capped():
    shape = Conv2dSpec(kernel=(11, 11), padding=(5, 5)).shape((64, 64))
    x, kernel = conv_picture.example_layer(shape)
    pic = conv_picture.conv_picture(shape, x, kernel, 0)
    assert sum(g.rows * g.cols for g in pic.grids) <= MAX_CELLS
    assert sum(len(s.products) for s in pic.steps) <= MAX_PRODUCTS and "sum" in pic.note
    assert len(json.dumps(pic.payload())) < 600_000
    big = Conv2dSpec(kernel=(11, 11), stride=(6, 6), padding=(8, 8), transposed=True).shape((64, 64))
    x, kernel = conv_picture.example_layer(big)
    with pytest.raises(PictureTooLarge, match="more than the"):
        conv_picture.transposed_picture(big, x, kernel, 0, 0)


axes = st.tuples(st.integers(1, 64), st.integers(1, 11), st.integers(1, 6), st.integers(0, 8), st.integers(1, 5))


@settings(max_examples=300, deadline=None)
@given(axes)
def test_floor_note_counts_exactly_the_cells_never_visited(axis):
    n, k, s, p, d = axis
    ax = conv_axis(n, k, s, p, d, "height")
    note = unvisited_note(ax)
    missed = never_visited(ax)
    if not ax.ok or not missed:
        assert note == ""
        return
    count = int(note.split(" ", 1)[0])
    assert count == len(missed)
    trailing = sum(1 for i in missed if i > (ax.out - 1) * s + d * (k - 1))
    assert (f"the last {trailing} row" in note) == (trailing > 0)


@settings(max_examples=30, deadline=None)
@given(layers)
def test_channels_picture_adds_the_channel_sums_and_the_bias(layer):
    from core.lessons.conv_layer import channel_sums

    n, k, s, p, d = layer
    shape = Conv2dSpec(kernel=(k, k), stride=(s, s), padding=(p, p), dilation=(d, d), in_channels=3).shape((n, n))
    if not shape.ok:
        return
    rng = np.random.default_rng(n * 31 + k)
    x, kernel = rng.integers(0, 10, (3, n, n)).astype(float), rng.integers(-1, 2, (3, k, k)).astype(float)
    pic = conv_picture.channels_picture(shape, x, kernel, 1.0, ("R", "G", "B"), 0)
    ow = shape.out_hw[1]
    for step in {0, len(pic.steps) - 1}:
        sums = channel_sums(x, kernel, 1.0, shape, *divmod(step, ow))
        assert pic.steps[step].result == (f"R {fmt(sums.sums[0])} + G {fmt(sums.sums[1])} + B {fmt(sums.sums[2])} "
                                          f"+ bias 1 = {fmt(sums.total)}")
        assert pic.window_values(step) == [fmt(v) for ch in sums.windows for row in ch for v in row]
