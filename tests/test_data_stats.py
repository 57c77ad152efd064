"""core.lessons.data_stats and the Data page's pictures, against NumPy/torch computed another way."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.lessons import data_stats

from core.data import registry as datasets
from ui import data_views as dv

SHIPPED = datasets.DATASETS["shipped5k"]
CIFAR = datasets.DATASETS["cifar10"]


def colour_images(n: int = 30, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8), (np.arange(n) % 10).astype(np.uint8)


def test_flatten_matches_torch_order():
    images, _ = colour_images(2)
    ref = torch.flatten(torch.from_numpy(images[1]).permute(2, 0, 1))  # (H, W, C) → (C, H, W) → 3072
    assert np.array_equal(data_stats.flatten(images[1]), ref.numpy())
    k, r, c = 2, 17, 5
    assert data_stats.flatten(images[1])[data_stats.flat_index(k, r, c, 32)] == images[1][r, c, k]
    digit = datasets.load_train("shipped5k").images[0]
    assert np.array_equal(data_stats.flatten(digit), torch.flatten(torch.from_numpy(digit.copy())).numpy())


def test_stages_match_torch_normalize():
    images, _ = colour_images(1)
    s = data_stats.stages(images[0], CIFAR)
    x = torch.from_numpy(images[0]).permute(2, 0, 1).double() / 255
    mean, std = torch.tensor(CIFAR.mean, dtype=torch.float64), torch.tensor(CIFAR.std, dtype=torch.float64)
    np.testing.assert_allclose(s.scaled, x.numpy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(s.standardised, ((x - mean[:, None, None]) / std[:, None, None]).numpy(), atol=1e-5)
    assert s.raw.shape == (3, 32, 32) and s.raw.max() == images[0].max()


def test_class_means_counts_and_pick():
    images, labels = colour_images(30)
    means = data_stats.class_means(images, labels, 10)
    for c in (0, 7):
        np.testing.assert_allclose(means[c], images[labels == c].astype(float).mean(axis=0))
    assert data_stats.label_counts(labels, 10).tolist() == [3] * 10
    assert data_stats.label_counts(np.array([1, 1], np.uint8), 10).tolist() == [0, 2] + [0] * 8
    assert data_stats.pick(labels, 4, 0) == 4 and data_stats.pick(labels, 4, 1) == 14
    assert data_stats.pick(labels, 4, 3) == 4  # wraps around
    with pytest.raises(ValueError, match="No image of class 3"):
        data_stats.pick(np.zeros(4, np.uint8), 3, 0)


def test_channel_stats_match_numpy():
    images, _ = colour_images(40)
    mean, std = data_stats.channel_stats(images)
    x = images.astype(np.float64) / 255
    np.testing.assert_allclose(mean, x.mean(axis=(0, 1, 2)), rtol=1e-12)
    np.testing.assert_allclose(std, x.std(axis=(0, 1, 2)), rtol=1e-9)
    digits = datasets.load_train("shipped5k").images
    (m,), (s,) = data_stats.channel_stats(digits)
    assert abs(m - digits.mean() / 255) < 1e-12 and abs(s - (digits / 255).std()) < 1e-9
    assert abs(m - 0.1307) < 0.005 and abs(s - 0.3081) < 0.005  # the 5k subset is close to MNIST's figures


def test_busiest_patch_finds_the_ink():
    plane = np.zeros((28, 28), np.uint8)
    plane[20:24, 10:14] = 255
    r, c = data_stats.busiest_patch(plane, 8)
    assert r <= 20 and r + 8 >= 24 and c <= 10 and c + 8 >= 14


def test_pictures():
    images, _ = colour_images(3)
    strip = dv.vector_strip(images[0])
    assert strip.shape[1] == 3072 and strip.dtype == np.uint8
    assert np.array_equal(strip[0, :, 0], data_stats.flatten(images[0]))  # top rows: the vector itself
    assert strip[-1, 0].tolist() == [220, 38, 38] and strip[-1, 3071].tolist() == [37, 99, 235]  # red … blue
    m = dv.montage(images, gap=2)
    assert m.shape == (32, 3 * 34 - 2, 3) and np.array_equal(m[:, 34:66], images[1])
    assert dv.enlarge(images[0], 3).shape == (96, 96, 3)
    t = dv.tint(images[0], 1)
    assert np.array_equal(t[..., 1], images[0][..., 1]) and not t[..., 0].any() and not t[..., 2].any()
    rows = dv.labelled_rows([images[:2]] * 10, [f"class {i}" for i in range(10)])
    assert rows.ndim == 3 and rows.shape[0] == 10 * 64 + 9 * 4
    tiles = dv.labelled_tiles([images[0]] * 10, [str(i) for i in range(10)])
    assert tiles.shape[0] == 2 * (96 + 26)


def test_pixel_html_shows_every_value_on_its_shade():
    plane = np.array([[0, 128], [255, 7]], np.uint8)
    html = dv.pixel_html(plane, plane, None)
    cells = dv_cells(html)
    assert cells == ["0", "128", "255", "7"]
    assert "rgb(255,255,255)" in html and 'class="k"' in html  # dark text on the white cell
    green = dv.pixel_html(plane / 255, plane, 1, decimals=2)
    assert dv_cells(green) == ["0.00", "0.50", "1.00", "0.03"] and "rgb(0,255,0)" in green
    assert "repeat(2,minmax(20px,1fr))" in html


def dv_cells(html: str) -> list[str]:
    import re

    return re.findall(r"<i[^>]*>([^<]*)</i>", html)
