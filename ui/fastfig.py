"""Finished plotly figures whose wire form is computed once.

``st.plotly_chart`` turns a figure into a dict (a deep copy), walks it to turn every NumPy array into
base64, then into JSON, on every run that draws it, also when the figure itself came from a cache: for
a 256×256 picture that is most of an interaction's server time. A ``Finished`` figure does the first
two steps once, when it is built; each run then only serialises plain strings and lists.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import plotly.graph_objects as go
from _plotly_utils.utils import convert_to_base64


def _plain(obj: Any) -> Any:
    """Arrays plotly does not encode as base64 (e.g. cell labels, dtype object) as plain lists, once."""
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return obj


class Finished(go.Figure):
    """A figure that is never changed after it is built (share it freely between runs and students)."""

    def __init__(self, fig: go.Figure) -> None:
        super().__init__(fig)
        wire = fig.to_dict()
        convert_to_base64(wire)  # numeric arrays → {"dtype", "bdata"}, as plotly.io.to_json would each time
        self._wire = _plain(wire)

    def to_dict(self) -> dict:  # what st.plotly_chart serialises: read-only, already converted
        return self._wire
