"""The pooling page under AppTest (every control, numbers checked against core), plus one browser test."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from core.lessons import kernels as kernel_lib
from core.data.mnist import load_shipped_train, sample_digit
from core.arithmetic import conv2d_params
from core.lessons.pooling import pool2d, pool_shape
from tests.apptest_checks import open_clean
from tests.conftest import REPO, wait_for_app_idle
from tests.picture_checks import fake_pick, grid_numbers, hover_readout, payload

APP = str(REPO / "streamlit_app.py")
PAGE = "pages/pooling.py"
CS231N = np.array([[1, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]], dtype=float)


def open_page(**params) -> AppTest:
    return open_clean(PAGE, **params)




def picture(at: AppTest) -> dict:
    return payload(at, "pooling.picture")


def output(at: AppTest) -> np.ndarray:
    return np.array(grid_numbers(picture(at), 1))


def shown(values) -> np.ndarray:
    """What the picture writes for ``values`` (core's numbers, formatted as the browser shows them)."""
    from core.lessons.picture import fmt

    return np.vectorize(fmt, otypes=[object])(np.asarray(values, dtype=float))


def output_text(at: AppTest) -> np.ndarray:
    data = picture(at)
    g = data["grids"][1]
    return np.array(g["text"], dtype=object).reshape(g["rows"], g["cols"])


def input_text(at: AppTest) -> np.ndarray:
    data = picture(at)
    g = data["grids"][0]
    kind = np.array(g["kind"]).reshape(g["rows"], g["cols"])
    text = np.array(g["text"], dtype=object).reshape(g["rows"], g["cols"])
    rows, cols = np.where(kind == 0)
    return text[rows.min(): rows.max() + 1, cols.min(): cols.max() + 1]


def real_input(at: AppTest) -> np.ndarray:
    """The picture's input grid without its padding / overhang cells."""
    data = picture(at)
    g = data["grids"][0]
    kind = np.array(g["kind"]).reshape(g["rows"], g["cols"])
    z = np.array(grid_numbers(data, 0))
    rows, cols = np.where(kind == 0)
    return z[rows.min(): rows.max() + 1, cols.min(): cols.max() + 1]


def selected_window(at: AppTest) -> tuple[tuple[int, int, int, int], tuple[int, int]]:
    """(top, left, bottom, right) of the selected window in the padded input, and its output cell."""
    data = picture(at)
    grid, r0, rn, rs, c0, cn, cs, _, out_r, _, _, out_c, _, _ = data["boxes"][data["selected"]]
    return (r0, c0, r0 + (rn - 1) * rs, c0 + (cn - 1) * cs), (out_r, out_c)


def story(at: AppTest) -> str:
    return next(m.value for m in at.markdown if m.value.startswith("**Window"))


def query(at: AppTest) -> dict[str, str]:
    return {k: (v[-1] if isinstance(v, list) else v) for k, v in dict(at.query_params).items()}


def test_defaults_show_the_classic_example():
    at = open_page()
    np.testing.assert_array_equal(real_input(at), CS231N)
    np.testing.assert_array_equal(output(at), [[6, 8], [3, 4]])
    assert "**Output: 2×2**" in " ".join(m.value for m in at.markdown)
    latex = " ".join(e.proto.body for e in at.latex)
    assert r"\frac{4 + 2\cdot0" in latex and "= 2" in latex
    assert story(at).startswith("**Window 1 of 4") and "max(1, 1, 5, 6) = **6**" in story(at)
    q = query(at)
    assert q["m"] == "1,1,2,4,5,6,7,8,3,2,1,0,1,2,3,4" and q["op"] == "max" and q["k"] == "2"


@pytest.mark.parametrize("op", ["max", "avg", "sum"])
@pytest.mark.parametrize("k, s, p, ceil", [(2, 2, 0, 0), (3, 2, 1, 0), (2, 3, 1, 1), (3, 2, 0, 1)])
def test_each_operation_matches_core_on_a_digit(op, k, s, p, ceil):
    at = open_page(src="digit", digit=5, idx=2, op=op, k=k, s=s, p=p, ceil=ceil)
    digit = sample_digit(load_shipped_train(), 5, 2).astype(float)
    np.testing.assert_array_equal(real_input(at), digit)
    np.testing.assert_array_equal(output_text(at), shown(pool2d(digit, k, s, p, bool(ceil), op).values))


def test_controls_drive_the_output_and_the_url():
    at = open_page()
    at.radio(key="pooling.op").set_value("avg").run()
    at.slider(key="pooling.k").set_value(3).run()
    at.slider(key="pooling.s").set_value(1).run()
    np.testing.assert_array_equal(output_text(at), shown(pool2d(CS231N, 3, 1, op="avg").values))
    at.slider(key="pooling.p").set_value(1).run()
    at.checkbox(key="pooling.cip").uncheck().run()
    np.testing.assert_array_equal(output_text(at), shown(pool2d(CS231N, 3, 1, 1, op="avg", count_include_pad=False).values))
    at.slider(key="pooling.s").set_value(2).run()
    at.checkbox(key="pooling.ceil").check().run()
    assert not at.exception
    np.testing.assert_array_equal(output_text(at), shown(pool2d(CS231N, 3, 2, 1, True, "avg", False).values))
    q = query(at)
    assert (q["op"], q["k"], q["s"], q["p"], q["ceil"], q["cip"]) == ("avg", "3", "2", "1", "1", "0")


def test_global_average_pooling():
    at = open_page(op="gap")
    np.testing.assert_array_equal(output_text(at), shown([[CS231N.mean()]]))
    assert at.slider(key="pooling.k").disabled
    assert "pooling.play" not in {t.key for t in at.toggle}  # one window: nothing to play
    assert "averages all 16 cells" in " ".join(m.value for m in at.markdown)


@pytest.mark.parametrize(
    "params, shape_args",
    [
        ({"k": 2, "p": 2}, ((4, 4), 2, 2, 2)),  # padding more than half the window
        ({"k": 8, "s": 1}, ((4, 4), 8, 1, 0)),  # window larger than the input
        ({"k": 7, "p": 1, "n": 4}, ((4, 4), 7, 2, 1)),  # larger than the padded input
    ],
)
def test_invalid_settings_show_the_arithmetic_reason(params, shape_args):
    at = open_page(**params)
    reason = pool_shape(*shape_args).reason
    assert reason
    assert any(reason in e.value for e in at.error), [e.value for e in at.error]
    assert not [e for e in at.get("bidi_component") if e.proto.component_name == "convlab_lesson_picture"]


def test_matrix_editing_resizing_and_buttons():
    at = open_page()
    gen = at.session_state["pooling._ed_gen"]
    at.session_state[f"pooling.editor{gen}"] = {"edited_rows": {2: {"1": 42}}, "added_rows": [], "deleted_rows": []}
    at.run()
    edited = CS231N.copy()
    edited[2, 1] = 42
    np.testing.assert_array_equal(real_input(at), edited)
    np.testing.assert_array_equal(output(at), [[6, 8], [42, 4]])
    assert query(at)["m"].split(",")[9] == "42"
    at.slider(key="pooling.n").set_value(6).run()
    x6 = real_input(at)
    assert x6.shape == (6, 6)
    np.testing.assert_array_equal(x6[:4, :4], edited)  # the top-left values survive a resize
    assert len(query(at)["m"].split(",")) == 36
    at.button[0].click().run()  # random values
    rnd = real_input(at)
    assert rnd.shape == (6, 6) and rnd.min() >= 0 and rnd.max() <= 9
    assert query(at)["m"] == ",".join(str(int(v)) for v in rnd.ravel())
    at.slider(key="pooling.n").set_value(4).run()
    at.button[1].click().run()  # reset
    np.testing.assert_array_equal(real_input(at), CS231N)


def test_share_link_round_trip():
    at = open_page(src="matrix", n=5, m=",".join(str(i) for i in range(25)), op="max", k=3, s=1, p=1,
                   ceil=0, step=7, dx=-2, dy=1, ch="128", ck="random")
    assert at.slider(key="pooling.n").value == 5 and at.slider(key="pooling.k").value == 3
    assert picture(at)["selected"] == 6  # window 7
    assert (at.slider(key="pooling.dx").value, at.slider(key="pooling.dy").value) == (-2, 1)
    assert at.radio(key="pooling.ck").value == "random"
    x = np.arange(25, dtype=float).reshape(5, 5)
    np.testing.assert_array_equal(real_input(at), x)
    np.testing.assert_array_equal(output(at), pool2d(x, 3, 1, 1).values)
    link = query(at)
    again = open_page(**link)
    assert query(again) == link
    np.testing.assert_array_equal(output(again), output(at))
    assert story(again) == story(at)


def test_malformed_matrix_in_link_falls_back_with_notice():
    at = open_page(m="1,2,3", k="banana")
    warn = " ".join(w.value for w in at.warning)
    assert "could not use" in warn and "matrix values" in warn and "pool size" in warn
    np.testing.assert_array_equal(real_input(at), CS231N)


def test_link_with_mismatched_size_resizes_the_matrix():
    at = open_page(n=5, m=",".join(["7"] * 16))
    x = real_input(at)
    assert x.shape == (5, 5)
    np.testing.assert_array_equal(x[:4, :4], np.full((4, 4), 7))


def test_the_link_and_a_pick_walk_the_windows(monkeypatch):
    at = open_page(k=3, s=1, p=1, step=6)  # 4×4 output, windows in a padded 6×6 grid
    assert selected_window(at) == ((1, 1, 3, 3), (1, 1))  # window 6: row 1, col 1 → padded top-left (1, 1)
    s = story(at)
    assert s.startswith("**Window 6 of 16 → output row 1, col 1") and "max(1, 1, 2, 5, 6, 7, 3, 2, 1) = **7**" in s
    assert picture(at)["results"][5] == "max = 7"
    fake_pick(monkeypatch, "pooling.picture", 0)  # a click on the first output cell
    at.run()
    assert "plus 5 padding cells (−∞)" in story(at)  # a 3×3 window at the corner: 4 real cells
    assert query(at)["step"] == "1" and picture(at)["selected"] == 0


def test_argmax_marks_match_core():
    x = CS231N.copy()
    x[3] = 2  # the bottom-right window of a 2×2 pool becomes [[1, 0], [2, 2]]: a real winner
    x[2:, :2] = 5  # the bottom-left window is constant: no mark
    at = open_page(m=",".join(str(int(v)) for v in x.ravel()))
    flat = picture(at)["winners"]
    centres = {(flat[i + 1], flat[i + 4]) for i in range(0, len(flat), 7)}
    res = pool2d(x, 2)
    rows, cols = res.argmax_rc()
    expected = {(int(rows[i, j]), int(cols[i, j])) for i in range(2) for j in range(2) if (i, j) != (1, 0)}
    assert centres == expected == {(1, 1), (1, 3), (3, 2)}


def test_translation_demo_hand_computed_case():
    m = [0] * 16
    m[0] = 9  # one bright cell at (0, 0)
    at = open_page(m=",".join(map(str, m)), dx=1, dy=0)
    metrics = {mt.label: mt.value for mt in at.metric}
    assert metrics["Before pooling (the map itself)"] == "0% unchanged"  # both active cells changed
    assert metrics["After pooling"] == "100% unchanged"  # the 9 stays in the first 2×2 window
    captions = " ".join(c.value for c in at.caption)
    assert "0 of 2 non-zero cells unchanged" in captions and "= 141%" in captions  # √2
    assert "1 of 1 non-zero cells unchanged" in captions and "= 0%" in captions
    shift = payload(at, "pooling.shift")
    assert [g["title"] for g in shift["grids"]] == ["original", "shifted (+0, +1)", "pooled original", "pooled shifted"]
    assert shift["grids"][1]["text"][:2] == ["0", "9"] and shift["results"][0] == "max = 9 (before the shift 9)"
    at.slider(key="pooling.dx").set_value(2).run()  # a whole stride: the output just moves
    metrics = {mt.label: mt.value for mt in at.metric}
    assert metrics["After pooling"] == "0% unchanged"
    table = next(m.value for m in at.markdown if m.value.startswith("| shift right"))
    assert [row.split("|")[3].strip() for row in table.splitlines()[2:]] == ["100%", "0%", "0%"]


def test_digit_and_feature_map_inputs():
    at = open_page(src="feature", digit=3, idx=4, feat="sobel_y", relu=1)
    digit = sample_digit(load_shipped_train(), 3, 4).astype(float)
    fm = np.maximum(kernel_lib.apply_filter(digit, "sobel_y", padding="same"), 0)
    np.testing.assert_array_equal(input_text(at), shown(fm))
    np.testing.assert_array_equal(output_text(at), shown(pool2d(fm, 2).values))
    at.checkbox(key="pooling.relu").uncheck().run()
    signed = kernel_lib.apply_filter(digit, "sobel_y", padding="same")
    np.testing.assert_array_equal(output_text(at), shown(pool2d(signed, 2).values))
    at.selectbox(key="pooling.feat").set_value("laplacian").run()
    at.number_input(key="pooling.digit").set_value(8).run()
    lap = kernel_lib.apply_filter(sample_digit(load_shipped_train(), 8, 4).astype(float), "laplacian", padding="same")
    np.testing.assert_array_equal(output_text(at), shown(pool2d(lap, 2).values))
    at.radio(key="pooling.src").set_value("matrix").run()
    np.testing.assert_array_equal(real_input(at), CS231N)  # the matrix survived the detour


def test_classroom_link_hides_advanced_controls():
    at = open_page(classroom=1)
    keys = {w.key for w in at.slider} | {w.key for w in at.checkbox}
    assert "pooling.k" in keys and "pooling.s" in keys
    assert not keys & {"pooling.p", "pooling.ceil", "pooling.cip"}
    at = open_page(classroom=1, src="feature", relu=0)
    assert "pooling.relu" not in {w.key for w in at.checkbox}
    assert real_input(at).min() < 0  # the link's "no ReLU" holds without the control
    at = open_page(classroom=1, k=3, p=1, ceil=1)  # a teacher's advanced settings still apply
    np.testing.assert_array_equal(output(at), pool2d(CS231N, 3, 2, 1, True).values)


def test_pooling_across_channels_is_core_on_the_filter_stack():
    from core.lessons.pooling import channel_pool

    stack = np.stack([kernel_lib.apply_filter(CS231N, name, padding="same") for name in ("sobel_x", "sobel_y", "laplacian")])
    at = open_page()
    data = payload(at, "pooling.channels")
    assert [g["title"] for g in data["grids"]] == ["Sobel x", "Sobel y", "Laplacian", "max over 3 channels"]
    g = data["grids"][3]
    np.testing.assert_array_equal(np.array(g["text"]).reshape(4, 4), shown(channel_pool(stack, "max")))
    for op in ("mean", "sum"):
        at.radio(key="pooling.cp").set_value(op).run()
        data = payload(at, "pooling.channels")
        g = data["grids"][3]
        np.testing.assert_array_equal(np.array(g["text"]).reshape(4, 4), shown(channel_pool(stack, op)))
        assert data["results"][5].startswith(f"{op} = ")
    assert query(at)["cp"] == "sum"


def test_pooling_vs_strided_convolution():
    at = open_page(op="avg", k=2, s=2, ch="32")
    versus = payload(at, "pooling.versus")
    assert [g["title"] for g in versus["grids"]] == ["average pooling", "conv, stride 2"]
    assert versus["grids"][1]["text"] == list(shown(pool2d(CS231N, 2, op="avg").values).ravel())
    assert "Largest difference from average pooling: 0.0e+00" in " ".join(c.value for c in at.caption)
    table = next(m.value for m in at.markdown if m.value.startswith("| | pooling"))
    assert f"**{conv2d_params(32, 32, (2, 2)):,}**" in table and "nn.AvgPool2d(2)" in table
    assert "nn.Conv2d(32, 32, 2, stride=2)" in table
    at.select_slider(key="pooling.ch").set_value("256").run()
    table = next(m.value for m in at.markdown if m.value.startswith("| | pooling"))
    assert f"**{conv2d_params(256, 256, (2, 2)):,}**" in table
    at.radio(key="pooling.ck").set_value("random").run()
    assert not at.exception
    assert "Springenberg" in " ".join(i.value for i in at.info)


def test_page_never_imports_torch():
    """Run in a fresh interpreter: this test module itself imports torch for the core checks."""
    code = (
        "import sys\n"
        "from streamlit.testing.v1 import AppTest\n"
        "at = AppTest.from_file('streamlit_app.py', default_timeout=120)\n"
        "at.run(); at.switch_page('pages/pooling.py')\n"
        "at.query_params['src'] = 'feature'\n"
        "at.run()\n"
        "assert not at.exception, at.exception\n"
        "assert at.get('bidi_component')\n"
        "print('TORCH' if 'torch' in sys.modules else 'CLEAN')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().endswith("CLEAN"), out.stdout


@pytest.mark.browser
def test_hover_play_and_step_in_a_browser(shared_server, page):
    """Hovering three output cells shows each window's values and result as core computed them, with no
    script run; Play moves the window in the browser; Step puts the next window into the link."""
    page.goto(f"{shared_server.url}/pooling?op=avg&k=3&s=1&p=1&step=1")
    wait_for_app_idle(page)
    canvas = page.locator("canvas.lp-canvas").first
    canvas.wait_for()
    res = pool2d(CS231N, 3, 1, 1, op="avg")
    padded = np.pad(CS231N, 1)
    from core.lessons.picture import fmt

    page.evaluate("() => { window.__runs = 0; }")
    page.evaluate("""() => new MutationObserver(() => {
        const s = document.querySelector('[data-testid="stApp"]').getAttribute('data-test-script-state');
        if (s === 'running') window.__runs += 1; }).observe(document.querySelector('[data-testid="stApp"]'),
        {attributes: true})""")
    data = {"output": 1, "grids": [None, {"cols": 4, "rowLabels": ["0", "1", "2", "3"],
                                          "colLabels": ["0", "1", "2", "3"]}]}
    for step in (0, 5, 15):
        r, c = divmod(step, 4)
        seen = hover_readout(page, canvas, data, step)
        window = padded[r:r + 3, c:c + 3]
        assert seen["window"] == [fmt(v) for v in window.ravel()]
        assert seen["products"] == []
        assert seen["result"] == f"sum {fmt(window.sum())} ÷ 9 = {fmt(res.values[r, c])}"
    assert page.evaluate("window.__runs") == 0  # hovering asked the server for nothing
    page.mouse.move(0, 0)
    page.get_by_role("button", name="▶ Play").click()
    page.locator("[data-testid='lp-readout-title']").filter(has_text="(0, 2)").wait_for()  # two ticks on
    page.get_by_role("button", name="⏸ Pause").click()
    page.wait_for_function("() => !['1', null].includes(new URLSearchParams(location.search).get('step'))")
    before = page.evaluate("new URLSearchParams(location.search).get('step')")
    page.get_by_role("button", name="⏭ Step").click()
    page.wait_for_function(f"() => new URLSearchParams(location.search).get('step') === '{int(before) + 1}'")
    assert page.evaluate("new URLSearchParams(location.search).get('k')") == "3"  # the rest survived
