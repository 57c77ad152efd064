"""Share links: a page's state as URL query parameters, and back, without ever crashing.

Each page declares a schema (a tuple of ``Param``). ``encode`` turns the page's values into short
query strings; ``decode`` turns whatever arrived in a URL (garbage, huge numbers, negative sizes,
unknown keys) into valid values plus friendly notices for what had to be replaced by defaults.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

# Keys every page accepts without complaint (handled by the app shell, not the page schema).
GLOBAL_KEYS: frozenset[str] = frozenset({"classroom", "embed", "embed_options"})
MAX_VALUE_CHARS = 2000  # longer query values are refused outright
# Python's int() and float() also read "1_0", Arabic-Indic "١٢" and full-width "１２": a link that looks like
# one number and means another. Links carry ASCII digits only.
_ASCII_INT = re.compile(r"[+-]?[0-9]{1,18}")
_ASCII_FLOAT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]{1,4})?")


def ascii_int(raw: str) -> int:
    """An integer written in ASCII digits (an optional sign, no separators), else ``ValueError``."""
    text = raw.strip()
    if not _ASCII_INT.fullmatch(text):
        raise ValueError("is not a whole number written with the digits 0–9")
    return int(text)


def ascii_float(raw: str) -> float:
    """A decimal number written in ASCII (digits, one point, an optional exponent), else ``ValueError``."""
    text = raw.strip()
    if not _ASCII_FLOAT.fullmatch(text):
        raise ValueError("is not a number written with the digits 0–9")
    return float(text)


@dataclass(frozen=True)
class Param:
    key: str  # the query-string key (short: it ends up in links)
    default: Any
    label: str = ""  # what the notice calls it; defaults to the key

    @property
    def name(self) -> str:
        return self.label or self.key

    def parse(self, raw: str) -> Any:  # pragma: no cover - every subclass overrides
        raise NotImplementedError

    def format(self, value: Any) -> str:
        return str(value)

    def describe(self, value: Any) -> str:
        """The value in a student's words (what a classroom page lists); the link's text unless overridden."""
        return self.format(value)


@dataclass(frozen=True)
class IntParam(Param):
    lo: int = 0
    hi: int = 100

    def parse(self, raw: str) -> int:
        value = ascii_int(raw)
        if not self.lo <= value <= self.hi:
            raise ValueError(f"must be between {self.lo} and {self.hi}")
        return value


@dataclass(frozen=True)
class FloatParam(Param):
    lo: float = 0.0
    hi: float = 1.0

    def parse(self, raw: str) -> float:
        value = ascii_float(raw)
        if not math.isfinite(value) or not self.lo <= value <= self.hi:
            raise ValueError(f"must be between {self.lo:g} and {self.hi:g}")
        return value

    def format(self, value: Any) -> str:
        return f"{float(value):.6g}"


@dataclass(frozen=True)
class BoolParam(Param):
    def parse(self, raw: str) -> bool:
        text = raw.strip().lower()
        if text in {"1", "true", "yes", "on"}:
            return True
        if text in {"0", "false", "no", "off"}:
            return False
        raise ValueError("must be 1 or 0")

    def format(self, value: Any) -> str:
        return "1" if value else "0"

    def describe(self, value: Any) -> str:
        return "on" if value else "off"


@dataclass(frozen=True)
class ChoiceParam(Param):
    choices: tuple[str, ...] = ()

    def parse(self, raw: str) -> str:
        text = raw.strip()
        if text not in self.choices:
            raise ValueError(f"must be one of {', '.join(self.choices)}")
        return text


@dataclass(frozen=True)
class FloatListParam(Param):
    """A list of numbers, e.g. a custom kernel's values row by row ("1,0,-1,2,0,-2,1,0,-1")."""

    lengths: tuple[int, ...] = (9,)  # allowed list lengths
    lo: float = -1e3
    hi: float = 1e3

    def parse(self, raw: str) -> tuple[float, ...]:
        parts = [p for p in raw.replace(";", ",").split(",") if p.strip()]
        if len(parts) not in self.lengths:
            raise ValueError(f"needs {' or '.join(map(str, self.lengths))} numbers, got {len(parts)}")
        values = tuple(ascii_float(p) for p in parts)
        if not all(math.isfinite(v) and self.lo <= v <= self.hi for v in values):
            raise ValueError(f"values must be finite and between {self.lo:g} and {self.hi:g}")
        return values

    def format(self, value: Any) -> str:
        return ",".join(f"{float(v):.6g}" for v in value)


@dataclass(frozen=True)
class IntListParam(Param):
    """A list of integers, e.g. an editable matrix ("1,2,3,4")."""

    lengths: tuple[int, ...] = (16,)
    lo: int = -999
    hi: int = 999

    def parse(self, raw: str) -> tuple[int, ...]:
        parts = [p for p in raw.split(",") if p.strip()]
        if len(parts) not in self.lengths:
            raise ValueError(f"needs {' or '.join(map(str, self.lengths))} numbers, got {len(parts)}")
        values = tuple(ascii_int(p) for p in parts)
        if not all(self.lo <= v <= self.hi for v in values):
            raise ValueError(f"values must be between {self.lo} and {self.hi}")
        return values

    def format(self, value: Any) -> str:
        return ",".join(str(int(v)) for v in value)


@dataclass(frozen=True)
class Decoded:
    values: dict[str, Any]
    notices: tuple[str, ...]  # one friendly sentence per ignored or replaced parameter
    present: frozenset[str]  # keys that came from the URL and were accepted


def defaults(schema: Sequence[Param]) -> dict[str, Any]:
    return {p.key: p.default for p in schema}


def decode(schema: Sequence[Param], params: Mapping[str, Any]) -> Decoded:
    """Valid values for every key of ``schema``: from ``params`` where they parse, else defaults."""
    values = defaults(schema)
    notices: list[str] = []
    present: set[str] = set()
    known = {p.key: p for p in schema}
    for key, raw in params.items():
        if key in GLOBAL_KEYS:
            continue
        param = known.get(key)
        if param is None:
            notices.append(f"Ignored unknown link setting “{_clip(key)}”.")
            continue
        if isinstance(raw, (list, tuple)):
            raw = raw[-1] if raw else ""
        raw = str(raw)
        if len(raw) > MAX_VALUE_CHARS:
            notices.append(f"“{param.name}” in the link was too long; using the default.")
            continue
        try:
            values[key] = param.parse(raw)
            present.add(key)
        except (ValueError, TypeError, OverflowError) as exc:
            notices.append(f"“{param.name}” = “{_clip(raw)}” {_reason(exc)}; using the default ({param.format(param.default)}).")
    return Decoded(values, tuple(notices), frozenset(present))


def encode(schema: Sequence[Param], values: Mapping[str, Any]) -> dict[str, str]:
    """Query parameters for ``values`` (every schema key, so a link pins the exact view)."""
    out: dict[str, str] = {}
    for param in schema:
        value = values.get(param.key, param.default)
        out[param.key] = param.format(value)
    return out


def validate(schema: Sequence[Param], values: Mapping[str, Any]) -> dict[str, Any]:
    """Round-trip values through the codec: what a page would get back from its own link."""
    return decode(schema, encode(schema, values)).values


def _clip(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _reason(exc: Exception) -> str:
    msg = str(exc)
    if isinstance(exc, ValueError) and ("invalid literal" in msg or "could not convert" in msg):
        return "is not a number"
    return msg or "is not valid"


def keys(schema: Iterable[Param]) -> list[str]:
    return [p.key for p in schema]
