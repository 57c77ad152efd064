"""The one colour module: its stops, plotly scales and lookup tables agree with each other and with the
lesson picture's drawing code."""

from pathlib import Path

import numpy as np

from core import colours


def test_lookup_tables_start_centre_and_end_on_the_stops():
    table = colours.lut(colours.SIGNED, 257)
    assert table[0].tolist() == [37, 99, 235] and table[128].tolist() == [255, 255, 255]
    assert table[-1].tolist() == [220, 38, 38]
    assert colours.SIGNED_SCALE == ((0.0, "#2563eb"), (0.5, "#ffffff"), (1.0, "#dc2626"))
    assert np.all(np.diff(colours.lut(colours.ACTIVATION).astype(int)[:, 2]) <= 0)  # darker as it grows


def test_the_lesson_picture_draws_the_same_stops():
    js = (Path(__file__).resolve().parents[1] / "ui" / "lesson_picture_draw.js").read_text(encoding="utf-8")
    for stop in colours.SIGNED + colours.ACTIVATION:
        assert stop in js


def test_train_figures_use_the_same_two_schemes():
    """Train's kernels, feature maps and confusion matrix: the signed scheme and the activation scheme."""
    import numpy as np

    from core import colours
    from ui.train_results import confusion_figure, maps_figure

    def scale(fig):
        return [tuple(s) for s in fig.data[0].colorscale]

    signed = maps_figure(np.random.default_rng(0).normal(size=(4, 3, 3)), per_row=4, diverging=True, title="k")
    maps = maps_figure(np.random.default_rng(0).random((4, 5, 5)), per_row=4, diverging=False, title="m")
    assert scale(signed) == [tuple(s) for s in colours.SIGNED_SCALE]
    assert scale(maps) == scale(confusion_figure(np.eye(10, dtype=int))) == [tuple(s) for s in colours.ACTIVATION_SCALE]
