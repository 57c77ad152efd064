"""The "Inside the network" page's settings (its share link), and a 28×28 digit carried in a link.

The Draw page hands its preprocessed drawing over with ``digit_link``; a drawing on the network page
travels in its own share link the same way, so a shared link reopens the very digit.
"""

from __future__ import annotations

import base64
import re
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.links import share
from core.links.settings import Settings, choice, custom, integer, number

DIGIT_SIDE = 28
_B64URL = re.compile(r"^[A-Za-z0-9_-]{4,1200}$")


def encode_digit(image: np.ndarray) -> str:
    """(28, 28) pixels in 0..1 → a short URL-safe text: 8-bit grey levels, zlib, base64url."""
    img = np.asarray(image, dtype=np.float32)
    if img.shape != (DIGIT_SIDE, DIGIT_SIDE):
        raise ValueError(f"A digit is 28×28 pixels, got {img.shape}.")
    levels = np.round(np.clip(np.nan_to_num(img), 0.0, 1.0) * 255).astype(np.uint8)
    return base64.urlsafe_b64encode(zlib.compress(levels.tobytes(), 9)).decode("ascii").rstrip("=")


def decode_digit(text: str) -> np.ndarray:
    """Inverse of ``encode_digit``: (28, 28) float32 in 0..1; ``ValueError`` for anything else. The
    decompressor never produces more than 784 bytes, whatever the link holds."""
    text = str(text).strip()
    if not _B64URL.match(text):
        raise ValueError("is not a digit ConvLab wrote")
    try:
        packed = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        inflater = zlib.decompressobj()
        raw = inflater.decompress(packed, DIGIT_SIDE * DIGIT_SIDE + 1)
    except (ValueError, zlib.error) as exc:
        raise ValueError("is not a digit ConvLab wrote") from exc
    if len(raw) != DIGIT_SIDE * DIGIT_SIDE or not inflater.eof:
        raise ValueError("does not hold 28×28 pixels")
    return np.frombuffer(raw, dtype=np.uint8).reshape(DIGIT_SIDE, DIGIT_SIDE).astype(np.float32) / 255.0


@dataclass(frozen=True)
class DigitParam(share.Param):
    """A share-link parameter holding a 28×28 digit (``encode_digit``); the default is "" (none)."""

    def parse(self, raw: str) -> str:
        if raw.strip():
            decode_digit(raw)  # refuse what cannot be decoded; keep the text, decode where it is used
        return raw.strip()

    def format(self, value: Any) -> str:
        return str(value)


def digit_link(image: np.ndarray, model: str = "") -> dict[str, str]:
    """Query parameters that open the "Inside the network" page on this 28×28 digit (and shipped model)."""
    params = {"src": "link", "img": encode_digit(image)}
    if model:
        params["m"] = model
    return params


_KEY = re.compile(r"^[a-z0-9_.]{0,40}$")


@dataclass(frozen=True)
class LayerKeyParam(share.Param):
    """A layer's ``LayerView.key`` in a link; which keys exist depends on the model, so the page checks."""

    def parse(self, raw: str) -> str:
        if not _KEY.match(raw.strip()):
            raise ValueError("is not a layer name")
        return raw.strip()


_STEM = re.compile(r"^((session/)?[A-Za-z0-9_-]{1,48})?$")  # "" = the default model


@dataclass(frozen=True)
class ModelParam(share.Param):
    """A model in a link: a shipped model's file stem, or ``session/<stem>`` for one exported in this
    session (such a link only resolves in that session). Which ones exist is checked by the page."""

    def parse(self, raw: str) -> str:
        if not _STEM.match(raw.strip()):
            raise ValueError("is not a model name")
        return raw.strip()


SOURCES = {"test": "🔢 A test digit", "draw": "✏️ Draw", "link": "🔗 From the link"}
LABEL_CHOICES = {"pred": "the network's answer", **{str(d): f"digit {d}" for d in range(10)}}


@dataclass(frozen=True)
class NetworkSettings(Settings, page="network"):
    """The "Inside the network" page's view: its share link and its widgets."""

    m: str = custom("", lambda key: ModelParam(key, "", "model"), label="model", hidden=True)  # "": the best
    src: str = choice("test", SOURCES, label="input")
    t: int = integer(0, lo=0, hi=9999, label="test digit")
    img: str = custom("", lambda key: DigitParam(key, "", "digit"), label="digit")
    L: str = custom("", lambda key: LayerKeyParam(key, "", "layer"), label="layer")  # "": the first conv
    c: int = integer(0, lo=0, hi=4095, label="channel or unit")
    r: int = integer(12, lo=0, hi=31, label="row")  # a unit near the middle: its window sees ink
    q: int = integer(14, lo=0, hi=31, label="column")  # (31: CIFAR-10's 32×32 maps; the page clamps per layer)
    T: float = number(1.0, lo=0.1, hi=10.0, label="temperature")
    y: str = choice("pred", LABEL_CHOICES, label="label for the loss")
    p: int = integer(6, lo=2, hi=12, label="occlusion patch")
