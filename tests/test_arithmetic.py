"""The arithmetic in core/arithmetic.py against the shapes torch actually produces, plus worked examples."""

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from core import arithmetic as ar
from core.lessons import conv_layer

sizes = st.integers(1, 20)
kernels = st.integers(1, 7)
strides = st.integers(1, 4)
pads = st.integers(0, 4)
dils = st.integers(1, 3)


def torch_conv_shape(h, w, kh, kw, sh, sw, ph, pw, dh, dw):
    try:
        out = F.conv2d(torch.zeros(1, 1, h, w), torch.zeros(1, 1, kh, kw), stride=(sh, sw), padding=(ph, pw),
                       dilation=(dh, dw))
    except RuntimeError:
        return None
    return tuple(out.shape[2:])


@settings(max_examples=300, deadline=None)
@given(sizes, sizes, kernels, kernels, strides, strides, pads, pads, dils, dils)
def test_conv_matches_torch(h, w, kh, kw, sh, sw, ph, pw, dh, dw):
    shape = ar.conv2d_shape((h, w), (kh, kw), (sh, sw), (ph, pw), (dh, dw))
    expected = torch_conv_shape(h, w, kh, kw, sh, sw, ph, pw, dh, dw)
    assert shape.out_hw == expected
    assert (shape.reason is None) == (expected is not None)


@settings(max_examples=300, deadline=None)
@given(sizes, kernels, strides, st.integers(0, 3), dils, st.booleans(), st.sampled_from(["max", "avg"]))
def test_pool_matches_torch(n, k, s, p, d, ceil_mode, kind):
    if kind == "avg":
        d = 1  # avg_pool2d has no dilation
    ax = ar.pool_axis(n, k, s, p, d, ceil_mode)
    try:
        x = torch.zeros(1, 1, n, n)
        if kind == "max":
            out = F.max_pool2d(x, k, s, p, dilation=d, ceil_mode=ceil_mode)
        else:
            out = F.avg_pool2d(x, k, s, p, ceil_mode=ceil_mode)
        expected = out.shape[-1]
    except RuntimeError:
        expected = None
    assert ax.out == expected, ax.reason


@settings(max_examples=300, deadline=None)
@given(sizes, kernels, strides, pads, dils, st.integers(0, 3))
def test_transposed_matches_torch(n, k, s, p, d, op):
    ax = ar.transposed_axis(n, k, s, p, d, op)
    try:
        out = F.conv_transpose2d(torch.zeros(1, 1, n, n), torch.zeros(1, 1, k, k), stride=s, padding=p,
                                 output_padding=op, dilation=d)
        # torch returns an empty tensor for a zero-sized output; ConvLab calls that impossible.
        expected = out.shape[-1] or None
    except RuntimeError:
        expected = None
    assert ax.out == expected, ax.reason


@settings(max_examples=100, deadline=None)
@given(sizes, kernels, dils)
def test_same_padding_keeps_size_like_torch(n, k, d):
    pad = ar.same_padding(k, d)
    ax = ar.conv_axis(n, k, 1, pad, d)
    out = F.conv2d(torch.zeros(1, 1, n, n), torch.zeros(1, 1, k, k), padding="same", dilation=d)
    assert ax.out == out.shape[-1] == n


def test_same_padding_refused_for_stride_two():
    _, reason = ar.resolve_padding("same", 3, 2, 1, 0)
    assert reason and "stride is 1" in reason
    with pytest.raises(RuntimeError, match="strided"):
        F.conv2d(torch.zeros(1, 1, 8, 8), torch.zeros(1, 1, 3, 3), stride=2, padding="same")


def test_full_padding_grows_output():
    (lo, hi), _ = ar.resolve_padding("full", 3, 1, 1, 0)
    assert ar.conv_axis(5, 3, 1, (lo, hi)).out == 7


def test_worked_examples_and_floor():
    # 28x28 MNIST, 5x5 kernel, no padding: LeNet's first layer gives 24x24.
    assert ar.conv_axis(28, 5).out == 24
    # 7 wide, kernel 3, stride 2, no padding: windows at 0, 2, 4 -> 3 outputs, nothing dropped.
    ax = ar.conv_axis(7, 3, 2, 0)
    assert (ax.out, ax.unused) == (3, 0)
    # 6 wide, kernel 3, stride 2: windows at 0 and 2; the last column (index 5) is never visited.
    ax = ar.conv_axis(6, 3, 2, 0)
    assert (ax.out, ax.unused) == (2, 1)
    assert ar.never_visited(ax) == [5]
    notes = " ".join(s.note for s in conv_layer.conv_formula_steps(ax))
    assert "never visited" in notes and "1 column" in notes


def test_invalid_reason_is_readable():
    ax = ar.conv_axis(3, 4, 1, 1, 2)  # dilated span 7 > padded 5
    assert ax.out is None
    assert ax.reason.startswith("The dilated kernel (7) is larger than the padded input (5)")
    with pytest.raises(ValueError, match="larger than"):
        ar.require(ar.conv2d_shape((3, 3), (4, 4), padding=(1, 1), dilation=(2, 2)))
    assert "half the pooling window" in ar.pool_axis(8, 2, 2, 2).reason
    assert "Output padding" in ar.transposed_axis(4, 3, 2, 0, 1, 2).reason


def test_params_and_macs_against_torch():
    conv = torch.nn.Conv2d(3, 16, (3, 5))
    assert ar.conv2d_params(3, 16, (3, 5)) == sum(p.numel() for p in conv.parameters())
    tconv = torch.nn.ConvTranspose2d(4, 8, 3)
    assert ar.conv2d_params(4, 8, (3, 3)) == sum(p.numel() for p in tconv.parameters())
    # Hand count: 24x24 outputs x 6 channels x (1 x 5 x 5) taps.
    assert ar.conv2d_macs((24, 24), 1, 6, (5, 5)) == 24 * 24 * 6 * 25


def test_receptive_field_of_vgg_style_stack():
    # Three 3x3 stride-1 convs see 7x7 (the VGG argument); a 2x2 stride-2 pool doubles the jump.
    rows = ar.receptive_field([ar.RFLayer("c1", 3), ar.RFLayer("c2", 3), ar.RFLayer("c3", 3)])
    assert [r.rf for r in rows] == [3, 5, 7]
    rows = ar.receptive_field([ar.RFLayer("c1", 3), ar.RFLayer("pool", 2, 2), ar.RFLayer("c2", 3)])
    assert [(r.rf, r.jump) for r in rows] == [(3, 1), (4, 2), (8, 2)]


def test_window_taps_with_dilation():
    shape = ar.conv2d_shape((7, 7), (3, 3), (2, 2), (1, 1), (2, 2))
    window = ar.conv_window(shape, 1, 0)
    assert window.rows == (2, 4, 6) and window.cols == (0, 2, 4)
    with pytest.raises(ValueError):
        ar.conv_window(shape, 5, 0)


def test_transposed_footprint_matches_torch_scatter():
    shape = ar.transposed2d_shape((3, 3), (3, 3), (2, 2), (1, 1))
    x = torch.zeros(1, 1, 3, 3)
    x[0, 0, 1, 2] = 1.0
    out = F.conv_transpose2d(x, torch.ones(1, 1, 3, 3), stride=2, padding=1)[0, 0]
    touched = {(int(r), int(c)) for r, c in torch.nonzero(out)}
    assert set(conv_layer.transposed_footprint(shape, 1, 2)) == touched


def test_downsample_puzzle():
    ok, msg = conv_layer.check_downsample_puzzle(28, 14, 3, 2, 1)
    assert ok and "14" in msg
    ok, msg = conv_layer.check_downsample_puzzle(28, 14, 3, 1, 1)
    assert not ok and "28" in msg
    assert (2, 2, 0) in conv_layer.puzzle_solutions(28, 14)
    assert all(ar.conv_axis(28, k, s, p).out == 14 for k, s, p in conv_layer.puzzle_solutions(28, 14))


def test_torch_layer_code_runs():
    code = conv_layer.torch_layer_code(False, 3, 16, (3, 3), (2, 2), (1, 1), (1, 1))
    assert code == "nn.Conv2d(3, 16, kernel_size=3, stride=2, padding=1)"
    layer = eval(code, {"nn": torch.nn})  # noqa: S307 - our own generated code
    assert tuple(layer(torch.zeros(1, 3, 28, 28)).shape) == (1, 16, 14, 14)


def test_torch_check_agrees_and_reports_refusals():
    from core.train.torch_check import torch_output_shape

    ok = torch_output_shape(False, (28, 28), 1, 6, (5, 5), (1, 1), (0, 0), (1, 1))
    assert ok.shape == (1, 6, 24, 24) and ok.error is None
    bad = torch_output_shape(True, (5, 5), 1, 1, (3, 3), (2, 2), (1, 1), (1, 1), (2, 2))
    assert bad.shape is None and "output padding" in bad.error


@pytest.mark.parametrize("pad, stride, dil", [(0, 1, 1), (1, 2, 1), (2, 1, 2)])
def test_channel_sums_add_up_to_torch_conv(pad, stride, dil):
    """Each channel's window × kernel slice, summed over channels, plus the bias: torch's output value."""
    gen = torch.Generator().manual_seed(pad * 10 + stride + dil)
    x = torch.randint(0, 10, (3, 6, 7), generator=gen).double()  # a colour input (C, H, W)
    k = torch.randint(-2, 3, (3, 3, 3), generator=gen).double()  # one output channel's kernel (C, kh, kw)
    out = F.conv2d(x[None], k[None], torch.tensor([1.5], dtype=torch.double), stride=stride, padding=pad,
                   dilation=dil)[0, 0]
    shape = ar.conv2d_shape((6, 7), (3, 3), (stride, stride), (pad, pad), (dil, dil), 3, 1)
    assert shape.out_hw == tuple(out.shape)
    for r in range(out.shape[0]):
        for c in range(out.shape[1]):
            cs = conv_layer.channel_sums(x.numpy(), k.numpy(), 1.5, shape, r, c)
            assert cs.total == pytest.approx(float(out[r, c]))
            per_channel = [float(F.conv2d(x[None, i:i + 1], k[None, i:i + 1], stride=stride, padding=pad,
                                          dilation=dil)[0, 0, r, c]) for i in range(3)]
            assert cs.sums == pytest.approx(per_channel)
