"""Multi-scan JPEGs are costed as such however their markers are arranged.

libjpeg keeps every DCT coefficient of the picture (2 bytes each, at full size whatever the draft scale)
when the frame is progressive or when the first scan does not hold every component. The files here are
made by Pillow and rearranged byte by byte the way a hostile upload would be: a sequential frame whose
first scan holds one component, a comment holding the bytes FF D9 before the second scan, and the same
for 3 (YCbCr) and 4 (CMYK) components. At 6300×6300 each must be refused for memory before decoding.
"""

from __future__ import annotations

import io

import pytest
from PIL import Image

from core.infer import uploads

SIDE = 6300


def picture(side: int, mode: str, progressive: bool) -> bytes:
    grad = Image.linear_gradient("L").resize((side, side))
    bands = {"L": 1, "RGB": 3, "CMYK": 4}[mode]
    img = grad if bands == 1 else Image.merge(mode, ([grad, grad.transpose(Image.Transpose.ROTATE_90)] * 2)[:bands])
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=80, progressive=progressive)
    return buf.getvalue()


def segments(data: bytes) -> list[tuple[int, bytes]]:
    """(marker, bytes) for each part of a JPEG; a scan's bytes run to the next marker after its data."""
    out, pos = [(0xD8, data[:2])], 2
    while pos < len(data):
        assert data[pos] == 0xFF, pos
        marker = data[pos + 1]
        if marker == 0xD9:
            out.append((marker, data[pos:pos + 2]))
            break
        end = pos + 2 + int.from_bytes(data[pos + 2:pos + 4], "big")
        if marker == 0xDA:
            while not (data[end] == 0xFF and data[end + 1] not in (0x00, *range(0xD0, 0xD8))):
                end += 1
        out.append((marker, data[pos:end]))
        pos = end
    return out


def sequential(parts: list[tuple[int, bytes]]) -> list[tuple[int, bytes]]:
    """The frame marked baseline (SOF0) instead of progressive (SOF2)."""
    return [(0xC0, b"\xff\xc0" + seg[2:]) if m == 0xC2 else (m, seg) for m, seg in parts]


def one_component_scan(seg: bytes) -> bytes:
    """A scan header rewritten to name only its first component (the data after it is left as it was)."""
    body = bytes([1]) + seg[5:7] + seg[4 + 1 + 2 * seg[4]:4 + 1 + 2 * seg[4] + 3]
    return b"\xff\xda" + (len(body) + 2).to_bytes(2, "big") + body + seg[2 + int.from_bytes(seg[2:4], "big"):]


def comment(text: bytes) -> bytes:
    return b"\xff\xfe" + (len(text) + 2).to_bytes(2, "big") + text


def join(parts) -> bytes:
    return b"".join(seg for _, seg in parts)


def first_scan_partial(data: bytes) -> bytes:
    """Sequential frame; its only scan holds one of the components; then end of image."""
    parts = sequential(segments(data))
    first = next(i for i, (m, _) in enumerate(parts) if m == 0xDA)
    return join(parts[:first] + [(0xDA, one_component_scan(parts[first][1]))]) + b"\xff\xd9"


def comment_hides_second_scan(data: bytes) -> bytes:
    """Sequential frame, first scan holds one component, a comment holding FF D9, then the other scans."""
    parts = sequential(segments(data))
    first = next(i for i, (m, _) in enumerate(parts) if m == 0xDA)
    return join(parts[:first] + [(0xDA, one_component_scan(parts[first][1])), (0xFE, comment(b"\xff\xd9\xff\xda"))]
                + parts[first + 1:])


def comment_before_second_scan_of_full_first(data: bytes) -> bytes:
    """Sequential frame whose first scan holds every component, then a comment with FF D9, then more scans."""
    parts = sequential(segments(data))
    first = next(i for i, (m, _) in enumerate(parts) if m == 0xDA)
    return join(parts[:first + 1] + [(0xFE, comment(b"x\xff\xd9y"))] + parts[first + 1:])


KINDS = {
    "first_scan_partial": first_scan_partial,
    "comment_ffd9_before_second_scan": comment_hides_second_scan,
    "comment_ffd9_after_full_first_scan": comment_before_second_scan_of_full_first,
}


@pytest.mark.parametrize("mode", ["RGB", "CMYK"])
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_rearranged_progressive_files_are_multi_scan(kind, mode):
    data = KINDS[kind](picture(64, mode, progressive=True))
    assert Image.open(io.BytesIO(data)).size == (64, 64)  # still a JPEG header Pillow opens
    assert uploads.jpeg_multi_scan(data), kind


@pytest.fixture(scope="module")
def big() -> dict[str, bytes]:
    return {mode: picture(SIDE, mode, progressive=True) for mode in ("RGB", "CMYK")}


@pytest.mark.parametrize("mode", ["RGB", "CMYK"])
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_rearranged_6300_square_files_are_refused_for_memory(big, kind, mode):
    data = KINDS[kind](big[mode])
    assert len(data) <= uploads.MAX_UPLOAD_BYTES
    with pytest.raises(uploads.ImageError, match="memory"):
        uploads.decode_upload(data)


def test_comment_and_app_bytes_are_not_read_as_markers():
    """A single-scan baseline file stays cheap even when its comments and APP segments hold FF DA/FF D9."""
    plain = picture(64, "RGB", progressive=False)
    parts = segments(plain)
    assert not uploads.jpeg_multi_scan(plain)
    noisy = join(parts[:1] + [(0xFE, comment(b"\xff\xda\xff\xd9\xff\xda")),
                              (0xE5, b"\xff\xe5\x00\x06\xff\xda\xff\xd9")] + parts[1:])
    assert not uploads.jpeg_multi_scan(noisy)
    assert uploads.decode_upload(noisy).pixels.shape == (64, 64)


def test_stuffed_bytes_and_restart_markers_are_entropy_data():
    """FF 00 and FF D0..D7 inside a scan are data, not a new scan; a restart-interval file stays single-scan."""
    buf = io.BytesIO()
    Image.linear_gradient("L").resize((128, 128)).convert("RGB").save(buf, "JPEG", restart_marker_blocks=1)
    data = buf.getvalue()
    assert any(data[i] == 0xFF and 0xD0 <= data[i + 1] <= 0xD7 for i in range(len(data) - 1))
    assert not uploads.jpeg_multi_scan(data)


@pytest.mark.parametrize("mode", ["L", "RGB", "CMYK"])
def test_progressive_files_of_1_3_and_4_components_are_multi_scan(mode):
    assert uploads.jpeg_multi_scan(picture(64, mode, progressive=True))
    assert not uploads.jpeg_multi_scan(picture(64, mode, progressive=False))


def test_truncated_and_odd_files_count_as_multi_scan():
    plain = picture(64, "RGB", progressive=False)
    assert uploads.jpeg_multi_scan(plain[:-200])
    assert uploads.jpeg_multi_scan(b"\xff\xd8garbage")
    assert uploads.jpeg_multi_scan(plain[:2] + b"\xff\xd9")  # no scan at all
