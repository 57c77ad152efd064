"""A lesson's settings as one frozen dataclass: each field is a link parameter, a widget and a value.

A page declares its settings once::

    @dataclass(frozen=True)
    class PoolingSettings(Settings, page="pooling"):
        op: str = choice("max", {"max": "Max", "avg": "Average"}, label="pooling")
        k: int = integer(2, lo=1, hi=8, label="pool size")
        p: int = integer(0, lo=0, hi=4, label="padding", hidden=True)   # a classroom link hides it

and everything else follows from that declaration: the share-link schema (field name = query key, so
links stay short and stable), validation (a value outside its range is replaced by its default with a
notice), classroom mode (``hidden`` fields get no widget in a classroom link; the page shows the
teacher's value instead) and the text a page shows for a value. ``ui.state`` moves these objects
between the URL, the widgets and ``st.session_state``; this module knows nothing about Streamlit.
"""

from __future__ import annotations

from dataclasses import Field, field, fields, replace
from typing import Any, Callable, ClassVar, Mapping, Sequence, TypeVar

from core.links import share

S = TypeVar("S", bound="Settings")
ParamFactory = Callable[[str], share.Param]  # builds the field's Param once its name (the key) is known


def _field(default: Any, make: ParamFactory, label: str, hidden: bool,
           names: Mapping[Any, str] | None = None) -> Any:
    return field(default=default, metadata={"make": make, "label": label, "hidden": hidden, "names": names})


def integer(default: int, *, lo: int, hi: int, label: str, hidden: bool = False) -> Any:
    return _field(default, lambda key: share.IntParam(key, default, label, lo=lo, hi=hi), label, hidden)


def number(default: float, *, lo: float, hi: float, label: str, hidden: bool = False) -> Any:
    return _field(default, lambda key: share.FloatParam(key, default, label, lo=lo, hi=hi), label, hidden)


def flag(default: bool, *, label: str, hidden: bool = False) -> Any:
    return _field(default, lambda key: share.BoolParam(key, default, label), label, hidden,
                  names={True: "on", False: "off"})


def choice(default: str, choices: Mapping[str, str] | Sequence[str], *, label: str, hidden: bool = False) -> Any:
    """One of ``choices``: a mapping gives each key the words a student sees for it."""
    names = dict(choices) if isinstance(choices, Mapping) else {c: c for c in choices}
    keys = tuple(names)
    if default not in names:
        raise ValueError(f"default {default!r} is not one of {keys}")
    return _field(default, lambda key: share.ChoiceParam(key, default, label, choices=keys), label, hidden, names)


def int_list(default: tuple[int, ...], *, lengths: tuple[int, ...], lo: int, hi: int, label: str,
             hidden: bool = False) -> Any:
    return _field(default, lambda key: share.IntListParam(key, default, label, lengths=lengths, lo=lo, hi=hi),
                  label, hidden)


def float_list(default: tuple[float, ...], *, lengths: tuple[int, ...], lo: float, hi: float, label: str,
               hidden: bool = False) -> Any:
    return _field(default, lambda key: share.FloatListParam(key, default, label, lengths=lengths, lo=lo, hi=hi),
                  label, hidden)


def custom(default: Any, make: ParamFactory, *, label: str, hidden: bool = False) -> Any:
    """A field whose link codec is a ``share.Param`` subclass of its own (e.g. a network's layer text)."""
    return _field(default, make, label, hidden)


class Settings:
    """Base of every lesson's frozen settings dataclass (see the module docstring)."""

    PAGE: ClassVar[str] = ""

    def __init_subclass__(cls, page: str = "", **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if page:
            cls.PAGE = page

    # -- the declaration, read back -----------------------------------------------------------
    @classmethod
    def _fields(cls) -> tuple[Field, ...]:
        return fields(cls)  # type: ignore[arg-type]

    @classmethod
    def schema(cls) -> tuple[share.Param, ...]:
        """The share-link schema: one ``share.Param`` per field, keyed by the field's name."""
        return tuple(f.metadata["make"](f.name) for f in cls._fields())

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in cls._fields())

    @classmethod
    def hidden(cls) -> tuple[str, ...]:
        """Fields a classroom link hides: the page offers no widget for them and shows the value."""
        return tuple(f.name for f in cls._fields() if f.metadata["hidden"])

    @classmethod
    def label(cls, name: str) -> str:
        return next(f.metadata["label"] for f in cls._fields() if f.name == name)

    @classmethod
    def param(cls, name: str) -> share.Param:
        return next(p for p in cls.schema() if p.key == name)

    # -- values in and out --------------------------------------------------------------------
    @classmethod
    def from_link(cls: type[S], params: Mapping[str, Any]) -> tuple[S, tuple[str, ...]]:
        """Settings from a URL's query parameters, and a notice per parameter that had to be replaced."""
        decoded = share.decode(cls.schema(), params)
        return cls(**decoded.values), decoded.notices

    @classmethod
    def from_values(cls: type[S], values: Mapping[str, Any]) -> S:
        """Settings from loose values (widgets, session state): anything invalid becomes its default."""
        schema = cls.schema()
        known = {p.key: values[p.key] for p in schema if p.key in values}
        text: dict[str, str] = {}
        for p in schema:
            if p.key in known:
                try:
                    text[p.key] = p.format(known[p.key])
                except (TypeError, ValueError, OverflowError):
                    pass
        return cls(**share.decode(schema, text).values)

    def to_link(self) -> dict[str, str]:
        """Every field as a query parameter (a link pins the exact view)."""
        return share.encode(self.schema(), self.values())

    def values(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.names()}

    def shown(self, name: str) -> str:
        """The value of ``name`` in the words a student sees (a choice's label, "on"/"off")."""
        f = next(f for f in self._fields() if f.name == name)
        value = getattr(self, name)
        names = f.metadata["names"]
        if names and value in names:
            return str(names[value])
        return self.param(name).describe(value)

    def teacher_choices(self) -> tuple[tuple[str, str], ...]:
        """(label, value in words) of each field a classroom link hides and the teacher set to something
        other than its default: what a student is told, without the defaults nobody touched."""
        defaults = type(self)()
        return tuple((self.label(name), self.shown(name)) for name in self.hidden()
                     if getattr(self, name) != getattr(defaults, name))

    def with_(self: S, **changes: Any) -> S:
        return replace(self, **changes)  # type: ignore[type-var]
