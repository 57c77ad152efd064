"""core.lessons.pooling against torch's max_pool2d / avg_pool2d and against hand-computed cases."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from core import arithmetic as ar

from core.lessons import filters
from core.lessons.pooling import (
    PoolingError, change_measure, downsample_costs, global_avg_pool, mean_kernel, pool2d, pool_shape,
    shift2d, translation_demo, window_cells, window_counts,
)


def t(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.asarray(x, dtype=np.float64))


@st.composite
def pool_case(draw):
    """Random input (C, H, W) and pooling settings, valid or not (rectangular everything)."""
    c = draw(st.integers(1, 3))
    h, w = draw(st.integers(1, 11)), draw(st.integers(1, 11))
    kh, kw = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    sh, sw = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    ph, pw = draw(st.integers(0, kh // 2)), draw(st.integers(0, kw // 2))
    ceil = draw(st.booleans())
    ints = draw(st.booleans())  # small integers make ties, which exercise argmax tie-breaking
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    x = rng.integers(-4, 5, (c, h, w)).astype(float) if ints else rng.normal(size=(c, h, w))
    return x, (kh, kw), (sh, sw), (ph, pw), ceil


def _torch_ok(fn) -> bool:
    try:
        fn()
        return True
    except RuntimeError:
        return False


@settings(max_examples=300, deadline=None)
@given(pool_case())
def test_max_matches_torch_values_and_indices(case):
    x, k, s, p, ceil = case
    shape = pool_shape(x.shape[1:], k, s, p, ceil)
    if not shape.ok:
        with pytest.raises(PoolingError):
            pool2d(x, k, s, p, ceil, "max")
        assert not _torch_ok(lambda: F.max_pool2d(t(x)[None], k, s, p, ceil_mode=ceil))
        return
    res = pool2d(x, k, s, p, ceil, "max")
    ref, idx = F.max_pool2d(t(x)[None], k, s, p, ceil_mode=ceil, return_indices=True)
    np.testing.assert_allclose(res.values, ref[0].numpy(), rtol=0, atol=0)
    np.testing.assert_array_equal(res.argmax, idx[0].numpy())  # same winner, ties included
    rows, cols = res.argmax_rc()
    np.testing.assert_allclose(np.take_along_axis(x.reshape(x.shape[0], -1), res.argmax.reshape(x.shape[0], -1), 1)
                               .reshape(res.values.shape), res.values)
    assert rows.max() < x.shape[1] and cols.max() < x.shape[2] and rows.min() >= 0 and cols.min() >= 0


@settings(max_examples=300, deadline=None)
@given(pool_case(), st.booleans())
def test_avg_matches_torch(case, include_pad):
    x, k, s, p, ceil = case
    if not pool_shape(x.shape[1:], k, s, p, ceil).ok:
        return
    res = pool2d(x, k, s, p, ceil, "avg", count_include_pad=include_pad)
    ref = F.avg_pool2d(t(x)[None], k, s, p, ceil_mode=ceil, count_include_pad=include_pad)[0].numpy()
    np.testing.assert_allclose(res.values, ref, rtol=1e-12, atol=1e-12)


@settings(max_examples=300, deadline=None)
@given(pool_case())
def test_sum_matches_torch_divisor_one(case):
    x, k, s, p, ceil = case
    if not pool_shape(x.shape[1:], k, s, p, ceil).ok:
        return
    res = pool2d(x, k, s, p, ceil, "sum")
    ref = F.avg_pool2d(t(x)[None], k, s, p, ceil_mode=ceil, divisor_override=1)[0].numpy()
    np.testing.assert_allclose(res.values, ref, rtol=1e-12, atol=1e-12)
    if not ceil:  # every window complete: sum = avg × window area
        avg = F.avg_pool2d(t(x)[None], k, s, p)[0].numpy()
        np.testing.assert_allclose(res.values, avg * k[0] * k[1], rtol=1e-12, atol=1e-12)


def test_shapes_agree_with_core_arithmetic():
    res = pool2d(np.zeros((7, 9)), (3, 2), (2, 3), (1, 1), ceil_mode=True)
    assert res.values.shape == res.shape.out_hw == ar.require(
        ar.pool2d_shape((7, 9), (3, 2), (2, 3), (1, 1), ceil_mode=True))


def test_ceil_mode_edge_window_divides_by_clipped_size():
    x = np.arange(1.0, 26.0).reshape(5, 5)  # 1..25
    res = pool2d(x, 2, 2, 0, ceil_mode=True, op="avg")
    # the last column window holds only column 4: (5 + 10) / 2 = 7.5, not / 4
    assert res.values[0, 2] == 7.5
    assert res.values[2, 2] == 25.0  # the corner window holds just one cell
    np.testing.assert_array_equal(res.divisors, [[4, 4, 2], [4, 4, 2], [2, 2, 1]])
    assert pool2d(x, 2, 2, 0, ceil_mode=True, op="sum").values[0, 2] == 15.0
    np.testing.assert_array_equal(pool2d(x, 2, 2, 0, ceil_mode=True).argmax, [[6, 8, 9], [16, 18, 19], [21, 23, 24]])


def test_padding_semantics_made_explicit():
    x = -np.ones((2, 2))  # all negative: a zero-padded max would wrongly return 0
    assert pool2d(x, 3, 1, 1, op="max").values.max() == -1.0
    # avg with count_include_pad=True: 4 real cells of -1 and 5 padding zeros, / 9
    np.testing.assert_allclose(pool2d(x, 3, 1, 1, op="avg").values, np.full((2, 2), -4 / 9))
    np.testing.assert_allclose(pool2d(x, 3, 1, 1, op="avg", count_include_pad=False).values, -np.ones((2, 2)))
    np.testing.assert_allclose(pool2d(x, 3, 1, 1, op="sum").values, np.full((2, 2), -4.0))


def test_window_counts():
    # n=5, k=2, s=2, p=0, out=3 (ceil): last window clipped to 1 cell
    np.testing.assert_array_equal(window_counts(5, 2, 2, 0, 3, True), [2, 2, 1])
    # n=4, k=3, s=2, p=1, out=2: the first window holds 1 padding cell
    np.testing.assert_array_equal(window_counts(4, 3, 2, 1, 2, True), [3, 3])
    np.testing.assert_array_equal(window_counts(4, 3, 2, 1, 2, False), [2, 3])


@pytest.mark.parametrize(
    "hw, k, s, p, ceil, fragment",
    [
        ((4, 4), 5, 1, 0, False, "larger than the padded input"),
        ((4, 4), 2, 2, 2, False, "more than half the pooling window"),
        ((3, 3), 3, 1, 2, False, "more than half the pooling window"),
        ((4, 4), 2, 0, 0, False, "stride must be at least 1"),
    ],
)
def test_invalid_settings_raise_the_arithmetic_reason(hw, k, s, p, ceil, fragment):
    shape = pool_shape(hw, k, s, p, ceil)
    assert not shape.ok and fragment in shape.reason
    with pytest.raises(PoolingError) as err:
        pool2d(np.zeros(hw), k, s, p, ceil)
    assert str(err.value) == shape.reason
    assert not _torch_ok(lambda: F.max_pool2d(torch.zeros(1, 1, *hw), k, s, p, ceil_mode=ceil))


def test_bad_arguments():
    with pytest.raises(PoolingError, match="Unknown pooling"):
        pool2d(np.zeros((4, 4)), 2, op="median")
    with pytest.raises(PoolingError, match="needs an image"):
        pool2d(np.zeros(4), 2)
    with pytest.raises(ValueError, match="Only max pooling"):
        pool2d(np.zeros((4, 4)), 2, op="avg").argmax_rc()


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 4), st.integers(1, 12), st.integers(1, 12), st.integers(0, 2**31 - 1))
def test_global_avg_pool_matches_adaptive_avg(c, h, w, seed):
    x = np.random.default_rng(seed).normal(size=(c, h, w))
    res = global_avg_pool(x)
    ref = F.adaptive_avg_pool2d(t(x)[None], 1)[0].numpy()
    assert res.values.shape == (c, 1, 1)
    np.testing.assert_allclose(res.values, ref, rtol=1e-12, atol=1e-12)


def test_window_cells_row_major():
    shape = pool_shape((5, 5), 3, 2, 1)  # 3×3 output
    assert window_cells(shape, 0) == (0, 0, 0, 0)
    assert window_cells(shape, 5) == (1, 2, 2, 4)
    with pytest.raises(PoolingError, match="9 windows"):
        window_cells(shape, 9)


# ---------------------------------------------------------------------------------------------
# Translation


def test_shift2d_zero_fills():
    x = np.arange(1, 10).reshape(3, 3)
    np.testing.assert_array_equal(shift2d(x, 0, 1), [[0, 1, 2], [0, 4, 5], [0, 7, 8]])
    np.testing.assert_array_equal(shift2d(x, -1, 0), [[4, 5, 6], [7, 8, 9], [0, 0, 0]])
    np.testing.assert_array_equal(shift2d(x, 1, -2), [[0, 0, 0], [3, 0, 0], [6, 0, 0]])
    np.testing.assert_array_equal(shift2d(x, 3, 0), np.zeros((3, 3)))
    np.testing.assert_array_equal(shift2d(x, 0, 0), x)


def test_invariance_hand_computed():
    """A single bright pixel in the top-left corner of a 4×4 map, 2×2 max pooling, stride 2.

    Shift right by 1: the pixel moves from (0,0) to (0,1). Before pooling 2 cells are non-zero in either
    map and both change: 0% unchanged, ‖after−before‖/‖before‖ = √2. It stays inside the first window,
    so the pooled 2×2 output is identical: 100% unchanged, L2 change 0.
    Shift right by 2 (= the stride): the pixel lands in the next window, the pooled output moves one
    cell: 0 of 2 active cells unchanged, L2 change √2 — pooling does not help at all.
    """
    x = np.zeros((4, 4))
    x[0, 0] = 9.0
    pool = partial(pool2d, k=2, op="max")
    one = translation_demo(x, 0, 1, pool)
    assert (one.before_pool.changed, one.before_pool.active, one.before_pool.total) == (2, 2, 16)
    assert one.before_pool.unchanged_fraction == 0.0
    assert one.before_pool.rel_l2 == pytest.approx(np.sqrt(2))
    np.testing.assert_array_equal(one.pooled_shifted, [[9, 0], [0, 0]])
    assert (one.after_pool.changed, one.after_pool.active) == (0, 1)
    assert one.after_pool.unchanged_fraction == 1.0 and one.after_pool.rel_l2 == 0.0
    two = translation_demo(x, 0, 2, pool)
    np.testing.assert_array_equal(two.pooled_shifted, [[0, 9], [0, 0]])
    assert (two.after_pool.changed, two.after_pool.active) == (2, 2)
    assert two.after_pool.rel_l2 == pytest.approx(np.sqrt(2))
    # average pooling: value 9 spread as 9/4 in the window, unchanged by the 1-pixel shift
    avg = translation_demo(x, 0, 1, partial(pool2d, k=2, op="avg"))
    np.testing.assert_array_equal(avg.pooled, [[2.25, 0], [0, 0]])
    assert avg.after_pool.unchanged_fraction == 1.0
    # global average pooling ignores any shift that keeps the pixel on the map
    assert translation_demo(x, 3, 3, global_avg_pool).after_pool.rel_l2 == 0.0


def test_change_measure_edge_cases():
    z = np.zeros((3, 3))
    m = change_measure(z, z)
    assert (m.changed, m.active, m.unchanged_fraction, m.rel_l2) == (0, 0, 1.0, 0.0)
    assert np.isnan(change_measure(z, np.eye(3)).rel_l2)
    a = np.array([[1.0, 2.0], [0.0, 4.0]])
    b = np.array([[1.0, 0.0], [3.0, 4.0]])
    m = change_measure(a, b)
    assert (m.changed, m.active) == (2, 4)  # cells (0,1) and (1,0) changed; all 4 are active
    assert m.unchanged_fraction == 0.5
    assert m.rel_l2 == pytest.approx(np.sqrt(4 + 9) / np.sqrt(1 + 4 + 16))
    with pytest.raises(ValueError):
        change_measure(a, z)


# ---------------------------------------------------------------------------------------------
# Pooling vs strided convolution


@pytest.mark.parametrize("k, s, p", [(2, 2, 0), (3, 2, 1), (3, 3, 0), (2, 1, 1)])
def test_average_pooling_is_a_strided_conv_with_mean_kernel(k, s, p):
    x = np.random.default_rng(k * 10 + s).normal(size=(9, 11))
    conv = filters.conv2d(x, mean_kernel(k), stride=s, padding=p)[0]
    np.testing.assert_allclose(conv, pool2d(x, k, s, p, op="avg").values, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("channels, k, s, p", [(1, 2, 2, 0), (64, 3, 2, 1), (32, 2, 2, 0)])
def test_downsample_costs_match_torch_layers(channels, k, s, p):
    pool_cost, conv_cost = downsample_costs((28, 28), channels, k, s, p)
    conv = torch.nn.Conv2d(channels, channels, k, stride=s, padding=p)
    assert conv_cost.params == sum(t.numel() for t in conv.parameters())
    assert pool_cost.params == 0
    x = torch.zeros(1, channels, 28, 28)
    assert (channels, *conv_cost.out_hw) == tuple(conv(x).shape[1:])
    assert (channels, *pool_cost.out_hw) == tuple(torch.nn.MaxPool2d(k, s, p)(x).shape[1:])
    assert conv_cost.ops == conv_cost.out_hw[0] * conv_cost.out_hw[1] * channels * channels * k * k
    assert pool_cost.ops == pool_cost.out_hw[0] * pool_cost.out_hw[1] * channels * k * k


def test_downsample_costs_invalid_pooling_has_reason():
    pool_cost, conv_cost = downsample_costs((28, 28), 8, 2, 2, 2)  # padding 2 > 2 // 2
    assert pool_cost.out_hw is None and "more than half" in pool_cost.reason
    assert conv_cost.out_hw == (16, 16)  # a conv accepts it: (28 + 4 - 2) // 2 + 1

