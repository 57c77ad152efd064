"""The Share panel's QR codes: made by segno on the server, decoded here back to the exact link."""

from __future__ import annotations

import base64

import cv2
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from core.links.qr import MAX_LINK_CHARS, qr_data_uri, qr_png, qr_svg


def decode(png: bytes) -> str:
    image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_GRAYSCALE)
    text, _points, _ = cv2.QRCodeDetector().detectAndDecode(image)
    return text


@pytest.mark.parametrize("link", [
    "http://127.0.0.1:8501/draw?m=lenet5",
    "https://convlab.example.org/filters?k=sobel_x&classroom=1",
    "https://convlab.example.org/network?a=" + "c8k3p1-" * 30,  # 248 characters; OpenCV 5.1 fails to read 318 (version 11) codes
])
def test_qr_decodes_to_the_link(link):
    assert decode(qr_png(link)) == link


@settings(max_examples=25, deadline=None)
@given(st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=120))
def test_any_printable_query_round_trips(query):
    link = "https://convlab.example.org/draw?q=" + query
    assert decode(qr_png(link)) == link


def test_svg_is_an_image_uri_without_text_of_the_link():
    link = "https://x.example/draw?n=<script>alert(1)</script>"
    uri = qr_data_uri(link)
    assert uri.startswith("data:image/svg+xml;base64,")
    svg = base64.b64decode(uri.split(",", 1)[1])
    assert svg == qr_svg(link) and b"<script" not in svg and svg.startswith(b"<svg")


def test_overlong_or_empty_links_are_refused():
    for bad in ("", "x" * (MAX_LINK_CHARS + 1)):
        with pytest.raises(ValueError, match="QR code"):
            qr_svg(bad)
