"""The share-link codec: round trips, and hostile query strings that must never crash."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.links import share

SCHEMA = (
    share.IntParam("k", 3, "kernel", lo=1, hi=11),
    share.FloatParam("lr", 0.001, "learning rate", lo=1e-6, hi=1.0),
    share.BoolParam("torch", False),
    share.ChoiceParam("pm", "same", "padding mode", choices=("valid", "same", "full")),
    share.FloatListParam("kern", (0.0,) * 9, "custom kernel", lengths=(9, 25)),
    share.IntListParam("m", (1, 2, 3, 4), "matrix", lengths=(4,), lo=-9, hi=9),
)


def test_round_trip():
    values = {"k": 7, "lr": 0.05, "torch": True, "pm": "full", "kern": (1.0, -2.5) + (0.0,) * 7, "m": (4, 3, -2, 1)}
    decoded = share.decode(SCHEMA, share.encode(SCHEMA, values))
    assert decoded.values == values and not decoded.notices
    assert decoded.present == frozenset(values)


def test_bad_values_fall_back_with_notices():
    decoded = share.decode(SCHEMA, {"k": "99", "lr": "nan", "torch": "maybe", "pm": "weird", "kern": "1,2",
                                    "m": "1,2,x,4", "zzz": "1", "classroom": "1"})
    assert decoded.values == share.defaults(SCHEMA)
    text = " ".join(decoded.notices)
    assert "between 1 and 11" in text and "unknown link setting “zzz”" in text
    assert "needs 9 or 25 numbers" in text and "is not a number" in text
    assert len(decoded.notices) == 7  # classroom is a global key, not an error


def test_huge_and_negative_numbers():
    decoded = share.decode(SCHEMA, {"k": "-4", "lr": "1e400", "m": "1,2,3," + "9" * 5000})
    assert decoded.values["k"] == 3 and decoded.values["lr"] == 0.001
    assert decoded.values["m"] == (1, 2, 3, 4)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["k", "lr", "torch", "pm", "kern", "m", "junk"]), st.text(max_size=60)))
def test_any_query_string_decodes_to_valid_values(params):
    decoded = share.decode(SCHEMA, params)
    values = decoded.values
    assert 1 <= values["k"] <= 11
    assert 1e-6 <= values["lr"] <= 1.0
    assert values["pm"] in ("valid", "same", "full")
    assert len(values["kern"]) in (9, 25)
    # Whatever came in, re-encoding the result gives a clean link.
    assert not share.decode(SCHEMA, share.encode(SCHEMA, values)).notices


@pytest.mark.parametrize("raw", ["1_0", "١٢", "１２", "1 2", "0x1f", "²"])
def test_integers_in_links_are_ascii_digits_only(raw):
    """int() reads "1_0" as 10 and "١٢"/"１２" as 12: a link must not mean a number it does not show."""
    decoded = share.decode(SCHEMA, {"k": raw})
    assert decoded.values["k"] == share.defaults(SCHEMA)["k"] and "k" not in decoded.present
    assert "digits 0–9" in " ".join(decoded.notices)


@pytest.mark.parametrize("raw", ["1_0.5", "٠.٥", "０.５", "infinity", "1e5000"])
def test_decimals_in_links_are_ascii_only(raw):
    decoded = share.decode(SCHEMA, {"lr": raw})
    assert decoded.values["lr"] == share.defaults(SCHEMA)["lr"] and "lr" not in decoded.present


def test_ascii_numbers_still_read():
    decoded = share.decode(SCHEMA, {"k": " 7 ", "lr": "0.01", "kern": "1,0,-1,2,0,-2,1,0,-1", "m": "+1,2,3,4"})
    assert decoded.values["k"] == 7 and decoded.values["lr"] == 0.01 and decoded.values["m"] == (1, 2, 3, 4)
    assert not decoded.notices


def test_layer_text_takes_ascii_digits_only():
    from core.arch.spec import layers_from_text

    assert len(layers_from_text("c6k5p2-max2-d120")) == 3
    with pytest.raises(ValueError):
        layers_from_text("c６k5")
