"""Friendly messages for failures a page cannot work around."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import streamlit as st

from core.data.mnist import DataError


@contextmanager
def shipped_data() -> Iterator[None]:
    """Wrap code that reads the shipped MNIST files: a missing or damaged file ends the page with a
    message that names the file, instead of a traceback."""
    try:
        yield
    except DataError as exc:
        st.error(
            f"ConvLab's shipped MNIST digits could not be read: {exc} "
            "Restore the `data/` folder from the repository (e.g. `git checkout -- data/`) and reload.",
            icon="📁",
        )
        st.stop()
