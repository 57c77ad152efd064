"""The filters page under AppTest: every preset on every image equals core, uploads, links, microscope."""

from __future__ import annotations

import base64
import io
import json

import numpy as np
from PIL import Image
from streamlit.testing.v1 import AppTest

from core.lessons import filters
from core.lessons import kernels as kernel_lib

from core.infer import uploads as images

from core.lessons import photos, pictures
from tests.apptest_checks import open_clean, plotly_array
from tests.conftest import REPO
from ui import filters_views as fv
from ui.filters_settings import DEFAULT_IMAGE

APP = str(REPO / "streamlit_app.py")
PAGE = "pages/filters.py"


def open_page(**params) -> AppTest:
    return open_clean(PAGE, **params)




def spec(at: AppTest, name: str) -> dict:
    for chart in at.get("plotly_chart"):
        if chart.proto.id.endswith(f"-filters.fig.{name}"):
            return json.loads(chart.proto.spec)
    raise AssertionError(f"no chart {name}")


def z_of(at: AppTest, name: str) -> np.ndarray:
    # pictures travel as float32 (ui.fastfig): compare them with assert_allclose (rtol 1e-7 > 2**-24)
    return plotly_array(spec(at, name)["data"][0]["z"]).astype(float)


def query(at: AppTest) -> dict[str, str]:
    return {k: (v[-1] if isinstance(v, list) else v) for k, v in dict(at.query_params).items()}


def texts(elements) -> str:
    return " ".join(e.value for e in elements)


def png_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def upload(at: AppTest, name: str, raw: bytes, mime: str = "image/png") -> AppTest:
    at.selectbox(key="filters.img").set_value("upload").run()
    at.file_uploader(key="filters.file").set_value((name, raw, mime)).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def editor_key(at: AppTest, size: int) -> str:
    rev = at.session_state["filters._ck_rev"] if "filters._ck_rev" in at.session_state else 0
    return f"filters.ck_editor.{size}.{rev}"


DEFAULT_PARAMS = {"box_blur": {"size": 3}, "gaussian": {"size": 5, "sigma": 1.0},
                  "custom": {"values": kernel_lib.WORKED_KERNEL.ravel()}}


def test_every_preset_on_every_builtin_image_matches_core():
    at = open_page()
    for img_key in pictures.BUILTIN_IMAGES:
        at.selectbox(key="filters.img").set_value(img_key).run()
        image = pictures.builtin_image(img_key)
        np.testing.assert_allclose(z_of(at, "input"), image)
        for preset in kernel_lib.KERNEL_PRESETS:
            at.selectbox(key="filters.k").set_value(preset).run()
            assert not at.exception, (img_key, preset, [e.value for e in at.exception])
            expected = kernel_lib.apply_filter(image, preset, **DEFAULT_PARAMS.get(preset, {}))
            np.testing.assert_allclose(z_of(at, "output"), expected, atol=1e-12, err_msg=f"{img_key}/{preset}")
            assert f"({expected.shape[0]}×{expected.shape[1]})" in spec(at, "output")["layout"]["title"]["text"]


def test_worked_example_and_its_microscope():
    at = open_page(img="worked", k="custom", r=1, c=2)
    np.testing.assert_array_equal(z_of(at, "output"), [[4, 3, 4], [2, 4, 3], [2, 3, 4]])
    np.testing.assert_array_equal(z_of(at, "mw0"), kernel_lib.WORKED_IMAGE[1:4, 2:5])  # the window
    np.testing.assert_array_equal(z_of(at, "mp0"), kernel_lib.WORKED_IMAGE[1:4, 2:5] * kernel_lib.WORKED_KERNEL)
    assert "Output pixel (row 1, column 2) = **3**" in texts(at.success)
    assert "Output size: 3×3" in texts(at.markdown)
    # the 'same' padding version: the window of (0, 0) reads padding zeros
    at.selectbox(key="filters.pm").set_value("same").run()
    at.number_input(key="filters.r").set_value(0).run()
    at.number_input(key="filters.c").set_value(0).run()
    out = z_of(at, "output")
    np.testing.assert_array_equal(out, filters.conv2d(kernel_lib.WORKED_IMAGE, kernel_lib.WORKED_KERNEL, padding=1)[0])
    assert f"= **{int(out[0, 0])}**" in texts(at.success)


def test_stride_dilation_and_display_modes():
    at = open_page(img="shapes", k="laplacian", s=2, d=2, pm="explicit", p=3)
    image = pictures.builtin_image("shapes")
    raw = kernel_lib.apply_filter(image, "laplacian", stride=2, padding=3, dilation=2)
    np.testing.assert_allclose(z_of(at, "output"), raw)
    assert "Output size: 65×65" in texts(at.markdown)  # floor((128 + 6 - 2·2 - 1)/2) + 1 = 64 + 1
    at.radio(key="filters.disp").set_value("clip").run()
    np.testing.assert_allclose(z_of(at, "output"), np.clip(raw, 0, 1))
    at.radio(key="filters.disp").set_value("normalise").run()
    np.testing.assert_allclose(z_of(at, "output"), (raw - raw.min()) / (raw.max() - raw.min()))


def test_sobel_magnitude_threshold_and_microscope():
    at = open_page(img="digit3", k="sobel_magnitude", thr=1.5)
    image = pictures.builtin_image("digit3")
    expected = kernel_lib.apply_filter(image, "sobel_magnitude", threshold=1.5)
    np.testing.assert_allclose(z_of(at, "output"), expected)
    assert (expected == 0).any() and expected.max() >= 1.5
    jump = next(b for b in at.button if "Strongest" in b.label)
    jump.click().run()
    r, c = np.unravel_index(np.argmax(expected), expected.shape)
    assert (at.number_input(key="filters.r").value, at.number_input(key="filters.c").value) == (r, c)
    assert "√(Gx² + Gy²)" in texts(at.markdown)
    assert f"Output pixel (row {r}, column {c}) = **{expected[r, c]:.3g}**" in texts(at.success)


def test_invalid_settings_explain_instead_of_crashing():
    at = open_page(img="worked", k="custom", cs=7)  # a 7×7 kernel on a 5×5 image without padding
    assert "No output" in texts(at.error) and "larger than the input" in texts(at.error)
    at = open_page(pm="same", s=2)
    assert "'same' padding only keeps" in texts(at.error)


def test_custom_kernel_editing_and_bad_values():
    at = open_page(img="worked", k="custom")
    editor = editor_key(at, 3)
    at.session_state[editor] = {"edited_rows": {0: {"0": 2}}, "added_rows": [], "deleted_rows": []}
    at.run()
    kernel = kernel_lib.WORKED_KERNEL.copy()
    kernel[0, 0] = 2
    np.testing.assert_array_equal(z_of(at, "output"), filters.conv2d(kernel_lib.WORKED_IMAGE, kernel)[0])
    assert query(at)["ck"] == "2,0,1,0,1,0,1,0,1"
    at.session_state[editor] = {"edited_rows": {0: {"0": None}}, "added_rows": [], "deleted_rows": []}
    at.run()
    assert not at.exception
    assert "not a finite number" in texts(at.error) and "last valid kernel" in texts(at.error)
    np.testing.assert_array_equal(z_of(at, "output"), filters.conv2d(kernel_lib.WORKED_IMAGE, kernel)[0])
    # growing the editor keeps the kernel in the centre
    at.radio(key="filters.cs").set_value(5).run()
    np.testing.assert_array_equal(z_of(at, "kernel0"), kernel_lib.resize_kernel(kernel, 5))


def test_copy_preset_into_custom_editor():
    at = open_page(k="sobel_y")
    next(b for b in at.button if "custom editor" in b.label).click().run()
    assert at.selectbox(key="filters.k").value == "custom"
    np.testing.assert_array_equal(z_of(at, "kernel0"), kernel_lib.get_kernel("sobel_y"))
    assert query(at)["ck"] == "-1,-2,-1,0,0,0,1,2,1"


def test_upload_valid_png_is_used_and_kept():
    rng = np.random.default_rng(0)
    pic = Image.fromarray(rng.integers(0, 256, (40, 60, 3), dtype=np.uint8))
    raw = png_bytes(pic)
    at = upload(open_page(k="identity"), "mine.png", raw)
    expected = images.decode_upload(raw).pixels
    np.testing.assert_allclose(z_of(at, "input"), expected)
    np.testing.assert_allclose(z_of(at, "output"), expected[1:-1, 1:-1])
    assert "mine.png" in texts(at.caption) and not at.error
    # switching to a built-in and back keeps the picture for this session
    at.selectbox(key="filters.img").set_value("shapes").run()
    at.selectbox(key="filters.img").set_value("upload").run()
    np.testing.assert_allclose(z_of(at, "input"), expected)


def test_upload_corrupt_file_gives_a_clear_message():
    raw = png_bytes(Image.new("RGB", (30, 30), (10, 200, 30)))
    at = upload(open_page(), "broken.png", raw[: len(raw) // 2])
    error = texts(at.error)
    assert "broken.png" in error and "damaged or incomplete" in error
    np.testing.assert_allclose(z_of(at, "input"), photos.photo(DEFAULT_IMAGE))  # still a working page
    at = upload(open_page(), "notes.png", b"just some text, not a picture")
    assert "not an image" in texts(at.error)


def test_upload_oversized_image_is_refused():
    raw = png_bytes(Image.new("1", (7000, 6000)))  # 42 megapixels in a few kB
    at = upload(open_page(), "huge.png", raw)
    error = texts(at.error)
    assert "huge.png" in error and "7000×6000" in error and "40 megapixels" in error


def test_share_link_round_trip():
    at = open_page()
    at.selectbox(key="filters.img").set_value("shapes").run()
    at.selectbox(key="filters.k").set_value("custom").run()
    at.radio(key="filters.cs").set_value(5).run()
    editor = editor_key(at, 5)
    at.session_state[editor] = {"edited_rows": {0: {"4": -3.5}, 4: {"0": 0.25}}, "added_rows": [],
                                "deleted_rows": []}
    at.run()
    at.number_input(key="filters.r").set_value(40).run()
    at.number_input(key="filters.c").set_value(17).run()
    link = query(at)
    assert link["img"] == "shapes" and link["k"] == "custom" and link["cs"] == "5"
    assert (link["r"], link["c"]) == ("40", "17")
    ck = np.array([float(v) for v in link["ck"].split(",")]).reshape(5, 5)
    assert ck[0, 4] == -3.5 and ck[4, 0] == 0.25
    again = open_page(**link)
    assert query(again) == link
    assert again.selectbox(key="filters.img").value == "shapes"
    assert again.selectbox(key="filters.k").value == "custom"
    assert (again.number_input(key="filters.r").value, again.number_input(key="filters.c").value) == (40, 17)
    np.testing.assert_array_equal(z_of(again, "kernel0"), ck)
    np.testing.assert_array_equal(z_of(again, "output"), z_of(at, "output"))
    assert texts(again.success) == texts(at.success)


def test_link_to_an_upload_falls_back_with_notice():
    at = open_page(img="upload", k="sobel_x")
    assert "links cannot carry pictures" in texts(at.info)
    assert at.selectbox(key="filters.img").value == DEFAULT_IMAGE
    np.testing.assert_allclose(z_of(at, "input"), photos.photo(DEFAULT_IMAGE))
    assert query(at)["img"] == DEFAULT_IMAGE


def test_malformed_link_falls_back_with_notice():
    at = open_page(k="banana", ck="1,2,nan", r="-4")
    warning = texts(at.warning)
    assert "could not use" in warning and "kernel preset" in warning and "custom kernel" in warning
    assert at.selectbox(key="filters.k").value == "sobel_x"


def test_classroom_link_hides_advanced_controls():
    at = open_page(classroom=1, s=2)
    assert not [s for s in at.slider if s.key == "filters.s"]
    assert "stride 2" in texts(at.markdown)  # the link's setting still applies
    normal = open_page(s=2)
    assert [s for s in normal.slider if s.key == "filters.s"]


def test_flip_section_and_im2col():
    at = open_page(img="digit7", k="sobel_x")
    assert "sign reversed" in texts(at.info)
    np.testing.assert_allclose(z_of(at, "ft"), -z_of(at, "fx"))
    at.selectbox(key="filters.k").set_value("gaussian").run()
    assert "identical" in texts(at.info)
    np.testing.assert_allclose(z_of(at, "ft"), z_of(at, "fx"))
    np.testing.assert_array_equal(z_of(at, "ir").reshape(3, 3), kernel_lib.WORKED_OUTPUT)
    bank = kernel_lib.kernel_bank()
    maps = filters.conv2d(pictures.builtin_image("digit7"), bank)
    shown = bank_pictures(at)  # one image element of PNGs, coloured like the heat maps (blue −, red +)
    assert [c for c, _ in shown] == [f"{kernel_lib.KERNEL_PRESETS[n].label} map" for n in kernel_lib.BANK]
    for (_, shown_pixels), z in zip(shown, maps):
        factor = shown_pixels.shape[0] // z.shape[0]  # enlarged by whole pixels (a 26×26 map to 182×182)
        assert factor > 1 and shown_pixels.shape[:2] == (z.shape[0] * factor, z.shape[1] * factor)
        pixels = shown_pixels[::factor, ::factor]
        expected = np.asarray(fv.map_colours(z))
        expected = expected if expected.dtype == np.uint8 else np.round(np.clip(expected, 0, 1) * 255)
        np.testing.assert_allclose(pixels.reshape(expected.shape).astype(float), expected, atol=1)
        if z.min() < 0:  # signed: the most negative cell is blue, the most positive red
            lo, hi = np.unravel_index(z.argmin(), z.shape), np.unravel_index(z.argmax(), z.shape)
            assert pixels[lo][2] > pixels[lo][0] and pixels[hi][0] > pixels[hi][2]


def bank_pictures(at: AppTest) -> list[tuple[str, np.ndarray]]:
    for element in at.get("image"):
        imgs = element.proto.imgs
        if imgs and imgs[0].caption.endswith(" map"):
            return [(img.caption, np.asarray(Image.open(io.BytesIO(base64.b64decode(img.url.split(",", 1)[1])))))
                    for img in imgs]
    raise AssertionError("no bank pictures")


def test_training_link_only_when_the_training_page_is_listed(monkeypatch):
    from ui import registry

    def training_links(at: AppTest) -> list:
        return [e for e in at.get("page_link") if "kernels it learns" in e.proto.label]

    monkeypatch.setattr(registry, "LESSONS", tuple(p for p in registry.LESSONS if p.url_path != "train"))
    at = open_page()
    assert "learns its kernels" in texts(at.markdown)
    assert not training_links(at) and "training page" not in texts(at.markdown).lower()
    # looked up at run time: once a page with url_path "train" is listed, the link appears
    stand_in = registry.PageInfo("pages/home.py", "train", "Train a CNN", "🏋️", "stand-in for the training page")
    monkeypatch.setattr(registry, "LESSONS", (*registry.LESSONS, stand_in))
    at = open_page()
    links = training_links(at)
    assert len(links) == 1 and "Train a CNN" in links[0].proto.label


def test_one_pixel_upload_explains_that_the_kernel_does_not_fit():
    at = upload(open_page(), "dot.png", png_bytes(Image.new("LA", (1, 1), (0, 0))))
    assert "No output" in texts(at.error) and "larger than the input" in texts(at.error)
    np.testing.assert_array_equal(z_of(at, "input"), [[1.0]])  # transparent → white background
    at.selectbox(key="filters.pm").set_value("same").run()
    assert not at.exception and not at.error
    np.testing.assert_allclose(z_of(at, "output"), [[0.0]])  # Sobel x of a single pixel with zero padding


def test_real_photos_are_offered_and_filtered_exactly():
    from core.lessons import photos

    at = open_page(k="sharpen")
    for key in photos.PHOTOS:
        at.selectbox(key="filters.img").set_value(key).run()
        assert not at.exception
        image = photos.photo(key)
        np.testing.assert_allclose(z_of(at, "input"), image)
        np.testing.assert_allclose(z_of(at, "output"), kernel_lib.apply_filter(image, "sharpen"), atol=1e-12)
        assert photos.PHOTOS[key].description in texts(at.caption)


def test_sharpen_is_shown_as_a_sharper_photo_with_the_signed_view_as_an_option():
    """A kernel that makes a picture is drawn the way the picture looks (grey 0…1, values
    outside clipped to black/white); edge maps stay signed; "Signed values" shows sharpen's signs."""
    at = open_page(img="astronaut", k="sharpen")
    out = spec(at, "output")["data"][0]
    assert (out["zmin"], out["zmax"]) == (0.0, 1.0) and is_grey(out["colorscale"])
    z = z_of(at, "output")
    assert z.min() < 0 and z.max() > 1  # sharpening overshoots: the view clips, the values stay true
    assert "clipped" in texts(at.caption)
    at.radio(key="filters.disp").set_value("signed").run()
    out = spec(at, "output")["data"][0]
    assert out["zmin"] == -out["zmax"] < 0 and not is_grey(out["colorscale"])
    at.radio(key="filters.disp").set_value("auto").run()
    at.selectbox(key="filters.k").set_value("sobel_x").run()
    out = spec(at, "output")["data"][0]
    assert out["zmin"] == -out["zmax"] < 0 and not is_grey(out["colorscale"])  # an edge map stays signed


def is_grey(colorscale) -> bool:
    import re

    def channels(c: str) -> tuple[int, ...]:  # "rgb(r, g, b)" (plotly's named scales) or "#rrggbb" (core.colours)
        return tuple(int(c[i:i + 2], 16) for i in (1, 3, 5)) if c.startswith("#") else tuple(
            int(v) for v in re.findall(r"\d+", c))

    rgb = [channels(c) for _, c in colorscale]
    return all(max(c) - min(c) <= 3 for c in rgb)


def test_photo_files_are_small_and_attributed():
    from core.lessons import photos

    listed = (REPO / "data" / "PHOTOS.md").read_text()
    files = sorted(photos.PHOTO_DIR.iterdir())
    assert {f.stem for f in files} == set(photos.PHOTOS)
    assert sum(f.stat().st_size for f in files) < 400_000
    for f in files:
        assert f"photos/{f.name}" in listed
        with Image.open(f) as img:
            assert max(img.size) <= 512


def test_colour_convolution_section_matches_torch():
    """The colour photo, a 3-slice kernel and a bias, checked against torch's conv2d."""
    import torch
    import torch.nn.functional as F

    from core.lessons import photos

    at = open_page(img="coffee", k="sharpen", cm="red_blue", cb="0.5")
    rgb = photos.photo_rgb("coffee")
    weight = np.stack([kernel_lib.get_kernel("sharpen"), np.zeros((3, 3)), -kernel_lib.get_kernel("sharpen")])
    expected = F.conv2d(torch.from_numpy(np.ascontiguousarray(rgb))[None], torch.from_numpy(weight)[None],
                        torch.tensor([0.5], dtype=torch.float64))[0, 0].numpy()
    np.testing.assert_allclose(z_of(at, "colour_out"), expected, atol=1e-12)
    np.testing.assert_array_equal(z_of(at, "colour_k2"), -kernel_lib.get_kernel("sharpen"))
    r, c = expected.shape[0] // 2, expected.shape[1] // 2
    line = next(m.value for m in at.markdown if m.value.startswith(f"Output pixel (row {r}, column {c}) = R"))
    assert "+ bias 0.5 =" in line and line.endswith(f"**{expected[r, c]:.3g}**")


def test_the_lesson_opens_on_a_real_photograph():
    """The intro promises real images: the default picture is one of the shipped photographs."""
    at = open_page()
    assert DEFAULT_IMAGE in photos.PHOTOS and at.selectbox(key="filters.img").value == DEFAULT_IMAGE
    np.testing.assert_allclose(z_of(at, "input"), photos.photo(DEFAULT_IMAGE))
