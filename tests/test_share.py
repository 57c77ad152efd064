"""The share-link codec: round trips, and hostile query strings that must never crash."""

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
