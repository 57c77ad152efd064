"""core.lessons.filters against PyTorch, hand-computed values and the textbook definition of convolution."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from core import arithmetic as ar

from core.lessons import filters
from core.lessons import kernels as kernel_lib

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def torch_conv(x: np.ndarray, w: np.ndarray, stride, padding, dilation) -> np.ndarray:
    """Reference: torch conv2d on (C, H, W) with (K, C, kh, kw); padding ((t, b), (l, r)) via F.pad."""
    (pt, pb), (pl, pr) = padding
    xt = F.pad(torch.tensor(x)[None], (pl, pr, pt, pb))
    return F.conv2d(xt, torch.tensor(w), stride=stride, dilation=dilation)[0].numpy()


@st.composite
def conv_case(draw):
    c = draw(st.integers(1, 3))
    k = draw(st.integers(1, 4))
    h, w = draw(st.integers(1, 14)), draw(st.integers(1, 14))
    kh, kw = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = ((draw(st.integers(0, 3)), draw(st.integers(0, 3))), (draw(st.integers(0, 3)), draw(st.integers(0, 3))))
    seed = draw(st.integers(0, 2**31 - 1))
    sparse = draw(st.booleans())  # kernels with zero taps (which conv2d skips), like Sobel and Laplacian
    rng = np.random.default_rng(seed)
    weights = rng.normal(size=(k, c, kh, kw))
    if sparse:
        weights *= rng.integers(0, 2, weights.shape)
    return rng.normal(size=(c, h, w)), weights, stride, padding, dilation


@SETTINGS
@given(conv_case())
def test_conv2d_matches_torch(case):
    x, w, stride, padding, dilation = case
    shape = ar.conv2d_shape(x.shape[1:], w.shape[2:], stride, padding, dilation)
    if not shape.ok:
        with pytest.raises(ValueError):
            filters.conv2d(x, w, stride, padding, dilation)
        return
    out = filters.conv2d(x, w, stride, padding, dilation)
    assert out.shape == (w.shape[0], *shape.out_hw)
    np.testing.assert_allclose(out, torch_conv(x, w, stride, padding, dilation), rtol=1e-10, atol=1e-10)


@pytest.mark.filterwarnings("ignore:Using padding=.same.")
@SETTINGS
@given(st.integers(1, 12), st.integers(1, 12), st.integers(1, 5), st.integers(1, 5), st.integers(1, 3),
       st.integers(0, 2**31 - 1))
def test_padding_modes_match_torch(h, w, kh, kw, d, seed):
    rng = np.random.default_rng(seed)
    x, k = rng.normal(size=(h, w)), rng.normal(size=(kh, kw))
    xt, kt = torch.tensor(x)[None, None], torch.tensor(k)[None, None]
    same = filters.conv2d(x, k, padding="same", dilation=d)
    np.testing.assert_allclose(same[0], F.conv2d(xt, kt, padding="same", dilation=d)[0, 0].numpy(), atol=1e-10)
    full = filters.conv2d(x, k, padding="full", dilation=d)
    ref = F.conv2d(xt, kt, padding=(d * (kh - 1), d * (kw - 1)), dilation=d)[0, 0].numpy()
    np.testing.assert_allclose(full[0], ref, atol=1e-10)
    shape = ar.conv2d_shape((h, w), (kh, kw), (1, 1), (0, 0), (d, d))
    if shape.ok:
        np.testing.assert_allclose(filters.conv2d(x, k, padding="valid", dilation=d)[0],
                                   F.conv2d(xt, kt, dilation=d)[0, 0].numpy(), atol=1e-10)


def test_worked_example_is_exact():
    out = filters.conv2d(kernel_lib.WORKED_IMAGE, kernel_lib.WORKED_KERNEL)
    np.testing.assert_array_equal(out[0], [[4, 3, 4], [2, 4, 3], [2, 3, 4]])
    np.testing.assert_array_equal(kernel_lib.WORKED_OUTPUT, out[0])


def test_input_and_kernel_forms():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(7, 9))
    k = rng.normal(size=(3, 3))
    single = filters.conv2d(x, k)
    assert single.shape == (1, 5, 7)
    np.testing.assert_allclose(filters.conv2d(x[None], k[None]), single)
    np.testing.assert_allclose(filters.conv2d(x, k[None, None]), single)
    np.testing.assert_allclose(filters.conv2d(x, k, stride=(1, 1), padding=((0, 0), (0, 0)), dilation=(1, 1)), single)
    with pytest.raises(ValueError, match="channels"):
        filters.conv2d(np.stack([x, x]), np.stack([k, k]))  # (K, kh, kw) is ambiguous for 2 channels


def test_same_padding_refused_for_stride_2():
    with pytest.raises(ValueError, match="stride"):
        filters.conv2d(np.ones((6, 6)), np.ones((3, 3)), stride=2, padding="same")


def test_kernel_larger_than_input_is_explained():
    with pytest.raises(ValueError, match="larger than the input"):
        filters.conv2d(np.ones((2, 2)), np.ones((3, 3)))


@SETTINGS
@given(conv_case())
def test_im2col_times_kernels_is_conv(case):
    x, w, stride, padding, dilation = case
    shape = ar.conv2d_shape(x.shape[1:], w.shape[2:], stride, padding, dilation)
    assume(shape.ok)
    patches = filters.im2col(x, w.shape[2:], stride, padding, dilation)  # (H'W', C kh kw)
    ho, wo = shape.out_hw
    assert patches.shape == (ho * wo, int(np.prod(w.shape[1:])))
    product = (patches @ w.reshape(w.shape[0], -1).T).T.reshape(w.shape[0], ho, wo)
    np.testing.assert_allclose(product, torch_conv(x, w, stride, padding, dilation), atol=1e-10)


def test_im2col_worked_example_rows_are_windows():
    patches = filters.im2col(kernel_lib.WORKED_IMAGE, (3, 3))
    assert patches.shape == (9, 9)
    np.testing.assert_array_equal(patches[5], kernel_lib.WORKED_IMAGE[1:4, 2:5].ravel())  # output (1, 2)
    np.testing.assert_array_equal((patches @ kernel_lib.WORKED_KERNEL.ravel()).reshape(3, 3), kernel_lib.WORKED_OUTPUT)


@SETTINGS
@given(conv_case(), st.data())
def test_microscope_sum_is_the_output(case, data):
    x, w, stride, padding, dilation = case
    image, kernel = x[0], w[0, 0]
    shape = ar.conv2d_shape(image.shape, kernel.shape, stride, padding, dilation)
    assume(shape.ok)
    out = filters.conv2d(image, kernel, stride, padding, dilation)[0]
    r = data.draw(st.integers(0, out.shape[0] - 1))
    c = data.draw(st.integers(0, out.shape[1] - 1))
    m = filters.microscope(image, kernel, r, c, stride, padding, dilation)
    np.testing.assert_allclose(m.products, m.window * kernel)
    assert m.total == pytest.approx(out[r, c], abs=1e-10)
    rows, cols = np.array(m.rows), np.array(m.cols)
    outside = ((rows < 0) | (rows >= image.shape[0]))[:, None] | ((cols < 0) | (cols >= image.shape[1]))[None, :]
    np.testing.assert_array_equal(m.in_padding, outside)
    assert np.all(m.window[m.in_padding] == 0)


def test_microscope_in_the_padding():
    m = filters.microscope(kernel_lib.WORKED_IMAGE, kernel_lib.WORKED_KERNEL, 0, 0, padding=1)
    assert m.rows == (-1, 0, 1) and m.cols == (-1, 0, 1)
    assert m.in_padding[0].all() and m.in_padding[:, 0].all() and not m.in_padding[1:, 1:].any()
    assert m.total == 2  # 1·1 (centre) + 1·1 (bottom right)


def test_true_convolution_is_the_textbook_one():
    # 1-D check against numpy's convolution (which flips), with full padding
    rng = np.random.default_rng(5)
    row, k = rng.normal(size=(1, 11)), rng.normal(size=(1, 4))
    ours = filters.true_convolution(row, k, padding=((0, 0), (3, 3)))[0, 0]
    np.testing.assert_allclose(ours, np.convolve(row[0], k[0], mode="full"), atol=1e-12)
    # and the deep-learning one does not flip: it is numpy's correlate
    np.testing.assert_allclose(filters.conv2d(row, k)[0, 0], np.correlate(row[0], k[0], mode="valid"), atol=1e-12)


@pytest.mark.parametrize("name,relation", [
    ("identity", "symmetric"), ("box_blur", "symmetric"), ("gaussian", "symmetric"), ("sharpen", "symmetric"),
    ("laplacian", "symmetric"), ("sobel_x", "antisymmetric"), ("sobel_y", "antisymmetric"),
    ("prewitt_x", "antisymmetric"), ("prewitt_y", "antisymmetric"), ("emboss", "other"),
])
def test_flip_relation_and_its_effect(name, relation):
    k = kernel_lib.get_kernel(name)
    assert filters.flip_relation(k) == relation
    x = np.random.default_rng(1).random((9, 8))
    xcorr, conv = filters.conv2d(x, k)[0], filters.true_convolution(x, k)[0]
    if relation == "symmetric":
        np.testing.assert_allclose(conv, xcorr)
    elif relation == "antisymmetric":
        np.testing.assert_allclose(conv, -xcorr)
    else:
        assert np.max(np.abs(conv - xcorr)) > 1e-6


def test_presets_shapes_and_sums():
    for name, preset in kernel_lib.KERNEL_PRESETS.items():
        params = {"values": list(range(9))} if name == "custom" else {}
        ks = kernel_lib.get_kernels(name, **params)
        assert ks.ndim == 3 and ks.shape[0] == (2 if preset.magnitude else 1), name
        assert preset.explanation and preset.label
    for size in (3, 5, 7):
        assert kernel_lib.get_kernel("box_blur", size=size).shape == (size, size)
        g = kernel_lib.get_kernel("gaussian", size=size, sigma=1.3)
        assert g.sum() == pytest.approx(1.0) and g[size // 2, size // 2] == g.max()
        np.testing.assert_allclose(g, g.T)
    np.testing.assert_array_equal(kernel_lib.get_kernel("sobel_x"), [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]])
    np.testing.assert_array_equal(kernel_lib.get_kernel("sobel_y"), kernel_lib.get_kernel("sobel_x").T)
    np.testing.assert_array_equal(kernel_lib.get_kernel("laplacian").sum(), 0)
    np.testing.assert_array_equal(kernel_lib.get_kernel("custom", values=range(25), size=5),
                                  np.arange(25).reshape(5, 5))


@pytest.mark.parametrize("call,match", [
    (lambda: kernel_lib.get_kernel("sobel_magnitude"), "combines 2 kernels"),
    (lambda: kernel_lib.get_kernel("nope"), "Unknown kernel preset"),
    (lambda: kernel_lib.get_kernel("sobel_x", size=5), "no parameter"),
    (lambda: kernel_lib.get_kernel("gaussian", size=4), "odd"),
    (lambda: kernel_lib.get_kernel("gaussian", sigma=0.0), "positive"),
    (lambda: kernel_lib.get_kernel("custom"), "values"),
    (lambda: kernel_lib.get_kernel("custom", values=range(8)), "needs"),
])
def test_preset_errors(call, match):
    with pytest.raises(filters.KernelError, match=match):
        call()


@pytest.mark.parametrize("kernel,match", [
    (np.array([[1.0, np.nan], [0, 1]]), "not a finite number at row 0, column 1"),
    (np.array([[1.0, 0], [np.inf, 1]]), "NaN or infinity"),
    (np.array([[1.0, 0], [0, -1e9]]), "between -1000 and 1000"),
    (np.ones((40, 40)), "40×40"),
    (np.ones((3, 100)), "far larger"),
    (np.ones((0, 3)), "empty"),
    (np.ones(3), "2-D"),
    ([[1, "a"], [0, 1]], "grid of numbers"),
])
def test_bad_kernels_are_rejected(kernel, match):
    with pytest.raises(filters.KernelError, match=match):
        filters.validate_kernel(kernel)
    with pytest.raises(ValueError):
        filters.conv2d(np.ones((50, 50)), kernel)


def test_bad_images_are_rejected():
    with pytest.raises(ValueError, match="NaN"):
        filters.conv2d(np.array([[1.0, np.nan]] * 3), np.ones((1, 1)))
    with pytest.raises(ValueError, match="empty"):
        filters.conv2d(np.ones((0, 4)), np.ones((1, 1)))
    with pytest.raises(ValueError, match="dimensions"):
        filters.conv2d(np.ones((1, 1, 4, 4)), np.ones((1, 1)))


def test_sobel_magnitude_and_threshold():
    x = np.random.default_rng(2).random((12, 10))
    gx = kernel_lib.apply_filter(x, "sobel_x", padding=1)
    gy = kernel_lib.apply_filter(x, "sobel_y", padding=1)
    mag = kernel_lib.apply_filter(x, "sobel_magnitude", padding=1)
    np.testing.assert_allclose(mag, np.hypot(gx, gy))
    thr = float(np.median(mag))
    cut = kernel_lib.apply_filter(x, "sobel_magnitude", padding=1, threshold=thr)
    np.testing.assert_array_equal(cut, np.where(mag < thr, 0.0, mag))
    assert (cut == 0).sum() >= mag.size // 2 - 1


def test_resize_kernel_keeps_the_centre():
    k = np.arange(9.0).reshape(3, 3)
    grown = kernel_lib.resize_kernel(k, 7)
    assert grown.shape == (7, 7) and grown.sum() == k.sum()
    np.testing.assert_array_equal(grown[2:5, 2:5], k)
    np.testing.assert_array_equal(kernel_lib.resize_kernel(grown, 3), k)


def test_display_values():
    out = np.array([[-2.0, 0.5], [1.5, 3.0]])
    np.testing.assert_array_equal(kernel_lib.display_values(out, "signed"), out)
    np.testing.assert_array_equal(kernel_lib.display_values(out, "clip"), [[0, 0.5], [1, 1]])
    np.testing.assert_allclose(kernel_lib.display_values(out, "normalise"), [[0, 0.5], [0.7, 1]])
    np.testing.assert_array_equal(kernel_lib.display_values(np.full((2, 2), 3.0), "normalise"), np.zeros((2, 2)))
    with pytest.raises(ValueError):
        kernel_lib.display_values(out, "weird")


def test_kernel_bank_gives_one_map_per_kernel():
    bank = kernel_lib.kernel_bank()
    x = np.random.default_rng(4).random((10, 11))
    maps = filters.conv2d(x, bank, padding="same")
    assert maps.shape == (len(kernel_lib.BANK), 10, 11)
    for i, name in enumerate(kernel_lib.BANK):
        np.testing.assert_allclose(maps[i], kernel_lib.apply_filter(x, name, padding="same"))


def test_filters_modules_do_not_import_torch():
    import subprocess
    import sys

    code = ("import sys; import core.lessons.filters, core.infer.uploads, ui.grid; "
            "sys.exit(1 if 'torch' in sys.modules else 0)")
    from tests.conftest import REPO

    assert subprocess.run([sys.executable, "-c", code], cwd=REPO).returncode == 0


def test_colour_convolution_matches_torch_channel_by_channel():
    """Each channel's window × its kernel slice, the three sums added, + bias = torch's conv2d."""
    rng = np.random.default_rng(3)
    image = rng.random((3, 9, 11))
    kernel = rng.normal(size=(3, 3, 3))
    bias = -0.25
    for stride, padding, dilation in ((1, 0, 1), (2, 1, 1), (1, 2, 2)):
        expected = F.conv2d(torch.from_numpy(image)[None], torch.from_numpy(kernel)[None],
                            torch.tensor([bias], dtype=torch.float64), stride=stride, padding=padding,
                            dilation=dilation)[0, 0].numpy()
        out = filters.colour_conv2d(image, kernel, bias, stride, padding, dilation)
        np.testing.assert_allclose(out, expected, atol=1e-12)
        r, c = expected.shape[0] // 2, expected.shape[1] - 1
        px = filters.colour_pixel(image, kernel, bias, r, c, stride, padding, dilation)
        assert len(px.channels) == 3
        for ch, m in enumerate(px.channels):
            np.testing.assert_array_equal(m.kernel, kernel[ch])
            assert m.total == pytest.approx(float((m.window * kernel[ch]).sum()))
        assert px.total == pytest.approx(float(expected[r, c]), abs=1e-12)


def test_colour_worked_example_by_hand():
    """A 2×2 picture, a 2×2 kernel per channel: R·1 + G·2 + B·(−1) summed, plus 0.5."""
    image = np.stack([np.full((2, 2), 0.5), np.eye(2), np.zeros((2, 2))])  # (3, 2, 2)
    kernel = np.stack([np.ones((2, 2)), 2 * np.ones((2, 2)), -np.ones((2, 2))])
    # R: 4 × 0.5 = 2; G: 2 × (1 + 1) = 4; B: 0 → 2 + 4 + 0 + 0.5 = 6.5
    assert filters.colour_conv2d(image, kernel, 0.5).tolist() == [[6.5]]
    assert [m.total for m in filters.colour_pixel(image, kernel, 0.5, 0, 0).channels] == [2.0, 4.0, 0.0]


def test_luma_colour_kernel_equals_filtering_the_grey_picture():
    rng = np.random.default_rng(4)
    rgb = rng.random((3, 12, 10))
    grey = 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]
    k = kernel_lib.get_kernel("sharpen")
    np.testing.assert_allclose(filters.colour_conv2d(rgb, kernel_lib.colour_kernel(k, "luma")),
                               filters.conv2d(grey, k)[0], atol=1e-12)
