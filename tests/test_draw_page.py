"""The draw page under AppTest (the canvas itself returns no image here: drawing is tested in core and in
the browser test). Model picker, test digits, step toggles, charts, feature maps and share links."""

from __future__ import annotations

import base64
import json
import re
import shutil

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from tests import apptest_checks as checks

from core.data.mnist import load_test
from core.infer.runtime import SHIPPED_DIR
from core.infer.session_folders import session_dir
from core.infer.model_card import read_card, sidecar_path
from tests.apptest_checks import delta_kinds, fragment_deltas
from tests.conftest import REPO
from ui.draw_views import maps_caption

APP = str(REPO / "streamlit_app.py")
PAGE = "pages/draw.py"
SHIPPED = sorted(SHIPPED_DIR.glob("*.onnx"))


def open_page(query: dict[str, str] | None = None, token: str | None = None) -> AppTest:
    at = checks.open_page(PAGE, query, token)
    assert not at.exception, at.exception
    return at


def query(at: AppTest, key: str) -> str:
    value = at.query_params[key]
    return value[-1] if isinstance(value, list) else value


def markdown_text(at: AppTest) -> str:
    return "\n".join(m.value for m in at.markdown)


def what_if(at: AppTest) -> dict[str, tuple[str, str]]:
    """The "what if a step were skipped" table (a Markdown table in the lesson's details): step → (now,
    if you switch it)."""
    rows = [line.strip("| ").split(" | ") for m in at.markdown for line in m.value.splitlines()
            if line.startswith("| ") and not line.startswith("| step |")]
    assert rows, "no what-if table"
    return {step: (now, then) for step, now, then in rows}


def step_captions(at: AppTest) -> list[str]:
    """The captions under the preprocessing steps' pictures, in order."""
    return [c for m in at.markdown for c in re.findall(r"<figcaption[^>]*>([^<]*)</figcaption>", m.value)
            if "draw-steps" in m.value]


def decode(values) -> np.ndarray:
    if isinstance(values, dict):
        return np.frombuffer(base64.b64decode(values["bdata"]), values["dtype"])
    return np.asarray(values, dtype=float)


def prob_chart(at: AppTest) -> np.ndarray:
    for chart in at.get("plotly_chart"):
        spec = json.loads(chart.proto.spec)
        if spec["data"][0]["type"] == "bar":
            return decode(spec["data"][0]["y"])
    raise AssertionError("no probability bar chart")


def test_page_opens_with_an_empty_canvas() -> None:
    at = open_page()
    assert at.get("bidi_component"), "the drawing canvas is missing"
    assert any("No digit" in i.value for i in at.info)
    assert prob_chart(at).sum() == 0
    best = max(SHIPPED, key=lambda p: read_card(p).test_accuracy)
    assert at.selectbox(key="draw.m").value == best.stem  # the best shipped model is the default
    assert query(at, "m") == best.stem


def test_a_real_test_digit_is_predicted_correctly() -> None:
    at = open_page()
    at.radio(key="draw.src").set_value("test").run()
    test = load_test()
    for index in (0, 1, 2):
        at.number_input(key="draw.t").set_value(index).run()
        assert not at.exception
        label = int(test.labels[index])
        assert f"**Prediction: {label}** ✓" in markdown_text(at)
        probs = prob_chart(at)
        assert probs.shape == (10,) and int(probs.argmax()) == label
        assert probs.sum() == pytest.approx(1.0, abs=1e-4)
    assert re.search(r"⏱ preprocessing [0-9.]+ ms \+ inference [0-9.]+ ms", markdown_text(at))


def test_feature_maps_one_tab_per_conv_layer() -> None:
    at = open_page({"src": "test", "t": "0"})
    card = read_card(SHIPPED_DIR / f"{at.selectbox(key='draw.m').value}.onnx")
    # drawn only once opened (they cost a third of a stroke's server time)
    assert not at.tabs and not [c for el in at.get("image") for c in el.proto.imgs if "channels of" in c.caption]
    at.toggle(key="draw_maps_shown").set_value(True).run()
    labels = [t.label for t in at.tabs]
    assert labels == [a.layer for a in card.activations]
    captions = [img.caption for el in at.get("image") for img in el.proto.imgs]
    assert [c for c in captions if "channels of" in c] == [maps_caption(a.name, a.shape) for a in card.activations]
    assert step_captions(at) == ["1. grayscale", "2. cropped", "3. scaled to 16×20", "4. pasted in 28×28",
                                 "5. centred by mass, shift (3, 0)"]


def test_maps_caption_says_how_many_filters_are_not_drawn() -> None:
    assert maps_caption("conv1", (1, 28, 28)) == "conv1: all 1 channel of 28×28"
    assert maps_caption("conv1", (16, 28, 28)) == "conv1: all 16 channels of 28×28"
    wide = maps_caption("conv2", (32, 14, 14))
    assert wide.startswith("conv2: the first 16 of 32 channels of 14×14; 16 more are not drawn")
    assert "Inside the network shows all of them" in wide


def test_skipping_a_step_changes_the_url_and_the_ablation_table() -> None:
    at = open_page({"src": "test", "t": "0"})
    assert list(what_if(at)) == ["Auto-invert", "Crop to the ink", "Scale to 20 px", "Centre by mass"]
    assert what_if(at)["Scale to 20 px"][0] == "on"
    at.toggle(key="draw.fit").set_value(False).run()
    assert not at.exception
    assert query(at, "fit") == "0"
    assert what_if(at)["Scale to 20 px"][0] == "off"
    assert what_if(at)["Scale to 20 px"][1].startswith("on → the model says ")


def test_share_link_restores_model_and_settings() -> None:
    at = open_page({"m": "lenet5", "src": "test", "t": "3", "crop": "0", "w": "30", "ink": "black"})
    assert at.selectbox(key="draw.m").value == "lenet5"
    assert at.toggle(key="draw.crop").value is False
    assert at.session_state["draw.w"] == 30 and at.session_state["draw.ink"] == "black"
    assert at.number_input(key="draw.t").value == 3
    assert any("LeNet-5" in e.label for e in at.expander)


def test_broken_link_falls_back_to_defaults_with_a_notice() -> None:
    at = open_page({"m": "../../etc/passwd", "src": "test", "t": "99999", "w": "abc"})
    assert any("could not use" in w.value for w in at.warning)
    assert at.selectbox(key="draw.m").value in {p.stem for p in SHIPPED}
    assert at.number_input(key="draw.t").value == 0


def _session_model(tmp_path, monkeypatch, token: str, name: str, title: str) -> str:
    """A copy of the shipped LeNet-5 exported "in this session" as ``name``; returns the session token."""
    monkeypatch.setenv("CONVLAB_SESSION_MODELS", str(tmp_path))
    folder = session_dir(token)
    folder.mkdir(parents=True)
    src = SHIPPED_DIR / "lenet5.onnx"
    shutil.copyfile(src, folder / f"{name}.onnx")
    card = json.loads(sidecar_path(src).read_text())
    card.update(name=name, title=title)
    (folder / f"{name}.json").write_text(json.dumps(card))
    return token


def test_session_models_are_offered_but_not_put_in_links(tmp_path, monkeypatch) -> None:
    token = _session_model(tmp_path, monkeypatch, "d" * 32, "my-net", "My net")
    at = open_page({"src": "test"}, token=token)
    assert "my-net: My net (trained this session)" in at.selectbox(key="draw.m").options
    at.selectbox(key="draw.m").set_value("session/my-net").run()
    assert not at.exception
    assert any("My net" in e.label for e in at.expander)
    assert query(at, "m") in {p.stem for p in SHIPPED}  # a session model cannot be shared by link


def test_a_tampered_session_model_is_refused_with_a_message(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("CONVLAB_SESSION_MODELS", str(tmp_path))
    token = "9" * 32
    folder = session_dir(token)
    folder.mkdir(parents=True)
    src = SHIPPED_DIR / "lenet5.onnx"
    (folder / "bad.onnx").write_bytes(src.read_bytes()[:-3] + b"xyz")
    card = json.loads(sidecar_path(src).read_text())
    card.update(name="bad", title="Tampered")
    (folder / "bad.json").write_text(json.dumps(card))
    at = open_page({"src": "test"}, token=token)
    at.selectbox(key="draw.m").set_value("session/bad").run()
    assert not at.exception
    assert any("SHA-256 does not match" in e.value for e in at.error)



def test_the_chosen_model_can_be_downloaded() -> None:
    at = open_page({"m": "lenet5"})
    buttons = at.get("download_button")
    assert len(buttons) == 2
    assert [b.proto.label for b in buttons] == ["⬇️ Model (.onnx)", "⬇️ Sidecar (.json)"]


def test_classroom_link_keeps_the_teachers_model_and_steps() -> None:
    models = sorted(p.stem for p in SHIPPED)
    teacher = models[-1]
    at = open_page({"m": teacher, "crop": "0", "w": "30", "src": "test", "t": "7", "classroom": "1"})
    keys = {w.key for kind in ("selectbox", "slider", "radio", "toggle") for w in getattr(at, kind)}
    assert not keys & {"draw.m", "draw.w", "draw.ink", "draw.crop", "draw.fit"}, keys
    assert "draw.src" in keys
    text = markdown_text(at)
    assert "auto-invert, scale to 20 px, centre by mass (set by your teacher's link)" in text
    assert query(at, "m") == teacher and query(at, "crop") == "0" and query(at, "classroom") == "1"
    assert read_card(SHIPPED_DIR / f"{teacher}.onnx").title in " ".join(e.label for e in at.expander)


def test_a_session_model_says_the_link_cannot_carry_it(tmp_path, monkeypatch) -> None:
    token = _session_model(tmp_path, monkeypatch, "e" * 32, "mine", "Mine")
    at = open_page({"src": "test"}, token=token)
    note = "models you trained are kept for this browser only"
    assert not any(note in c.value for c in at.caption)  # a shipped model: the link carries it
    at.selectbox(key="draw.m").set_value("session/mine").run()
    assert any(note in c.value and "default model" in c.value for c in at.caption)
    assert query(at, "m") in {p.stem for p in SHIPPED}


def test_the_28x28_view_is_one_gapless_picture() -> None:
    """The model's input is a 28×28 PNG scaled without smoothing, not a heat map with gaps."""
    import io
    import re

    from PIL import Image

    at = open_page({"src": "test", "t": "0"})
    html = next(m.value for m in at.markdown if "draw-seen" in m.value)
    assert "image-rendering:pixelated" in html
    png = base64.b64decode(re.search(r"data:image/png;base64,([A-Za-z0-9+/=]+)", html).group(1))
    seen = np.asarray(Image.open(io.BytesIO(png)))
    assert seen.shape == (28, 28)
    assert not [c for c in at.get("plotly_chart") if "28×28" in c.proto.spec]
    # the same image the model was given: the test digit, preprocessed
    from core.infer.preprocess import Steps, preprocess

    expected = preprocess(load_test().images[0], Steps()).image
    np.testing.assert_allclose(seen / 255.0, expected, atol=1 / 255 + 1e-6)


def test_steps_panel_switching_a_step_matches_the_ablation_row() -> None:
    """The "what if" table says what the page then shows when that step is switched."""
    at = open_page({"src": "test", "t": "1"})
    said = what_if(at)["Centre by mass"][1]
    at.toggle(key="draw.center").set_value(False).run()
    digit = said.split("says ")[1].split(" ")[0]
    assert f"**Prediction: {digit}**" in markdown_text(at)


def cached_bytes() -> int:
    from streamlit.runtime.caching.cache_data_api import get_data_cache_stats_provider

    return sum(s.byte_length for stats in get_data_cache_stats_provider().get_stats().values() for s in stats)


def test_drawings_are_not_cached(monkeypatch) -> None:
    """Drawings never repeat: a stroke stores nothing in a cache shared by every student (the "what if"
    table once cached 1.7 MB per stroke, up to 440 MB), and its answers are the one-by-one answers."""
    from PIL import Image, ImageDraw

    import ui.canvas
    from core.infer.runtime import load_model
    from core.infer.predict import classify
    from core.infer.preprocess import Steps

    def canvas_with(dx: int) -> np.ndarray:
        img = Image.new("F", (280, 280), 0.0)
        ImageDraw.Draw(img).line([(55 + dx, 52), (220 + dx, 45), (129 + dx, 245)], fill=1.0, width=22)
        return np.asarray(img, np.float32)

    drawn = [canvas_with(dx) for dx in (-20, -10, 0, 10, 20)]
    monkeypatch.setattr(ui.canvas, "drawing_canvas", lambda *a, **k: drawn[0])
    at = open_page({"m": "lenet5"})
    before = cached_bytes()
    for image in drawn[1:]:
        monkeypatch.setattr(ui.canvas, "drawing_canvas", lambda *a, image=image, **k: image)
        at.run()
        assert not at.exception, at.exception
    assert cached_bytes() == before
    # the table's rows are what the model says with that step switched, computed one by one
    model = load_model(SHIPPED_DIR / "lenet5.onnx")
    rows = {step: then for step, (_, then) in what_if(at).items()}
    for (field, steps), title in zip(Steps().each_switched().items(), rows):
        other = classify(model, drawn[-1], steps)
        assert rows[title].endswith(f"says {other.digit} ({other.probs[other.digit]:.0%})"), (field, rows[title])


def test_a_stroke_reruns_only_what_it_changes(monkeypatch) -> None:
    """A stroke reruns the lesson fragment, and everything in it is re-sent, one message per element. The
    controls a stroke never changes (input, pen, the preprocessing steps) live outside it, so the
    fragment holds no setting's widget and sends only the canvas, the answer, the chart, the details
    (one element) and the feature maps' switch and link (each element costs server CPU)."""
    from PIL import Image, ImageDraw

    import ui.canvas

    img = Image.new("F", (280, 280), 0.0)
    ImageDraw.Draw(img).line([(55, 52), (220, 45), (129, 245)], fill=1.0, width=22)
    monkeypatch.setattr(ui.canvas, "drawing_canvas", lambda *a, **k: np.asarray(img, np.float32))
    sent = fragment_deltas(monkeypatch, "lesson")
    at = open_page({"m": "lenet5"})
    assert "**Prediction: 7**" in markdown_text(at)
    kinds = delta_kinds(sent)
    widgets = [d.new_element for d in sent if d.WhichOneof("type") == "new_element"
               and d.new_element.WhichOneof("type") in ("radio", "slider", "checkbox", "number_input", "selectbox")]
    assert [getattr(w, w.WhichOneof("type")).id.split("-")[-1] for w in widgets] == ["draw_maps_shown"], widgets
    assert kinds.count("block") == 3 and len(kinds) <= 10, kinds  # the columns, then one element each
    # the controls are on the page all the same, outside the fragment
    assert {"draw.src", "draw.w", "draw.ink", "draw.invert", "draw.crop", "draw.fit", "draw.center"} <= {
        w.key for kind in ("radio", "slider", "toggle") for w in getattr(at, kind)}
