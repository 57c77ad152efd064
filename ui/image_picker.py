"""A dataset's own test images as the input of a model that does not read drawn digits (Fashion-MNIST
clothing, CIFAR-10 photos): the Draw and Network pages show this picker instead of the canvas.

Class names come from the model's sidecar, a stranger's file for a model trained in this session, so
they are shown literally (``ui.text``). No torch here.
"""

from __future__ import annotations

import random
from typing import Callable

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from core.data import registry as cds
from core.errors import DataError
from core.infer.model_card import ModelCard
from ui.pictures import enlarge, factor_for
from ui.text import literal, literal_html

PICTURE_PX = 224


def test_set(card: ModelCard) -> cds.ImageSet | None:
    """The test set the model's dataset publishes (cached download), or None after saying why not."""
    try:
        return cds.load_test(card.dataset_key)
    except (DataError, ValueError) as exc:  # removed from the cache, or a dataset this server does not know
        st.info(f"This model reads {literal(card.dataset_key)} images, and none are on this server now: "
                f"{literal(exc, 300)} (Train page, dataset choice).", icon="🗂️")
        return None


def pick_index(test: cds.ImageSet, key: str, put: Callable[[int], None], random_key: str) -> int:
    """Number input + "Another" button over the test set; the value lives under ``key`` (a setting), and
    ``put`` sets it (through the page's settings, ``ui.state.put``)."""
    n = len(test)
    if isinstance(st.session_state.get(key), int) and st.session_state[key] > n - 1:
        put(n - 1)  # a link or an earlier model's larger test set
    c1, c2 = st.columns([3, 2], vertical_alignment="bottom")
    index = int(c1.number_input(f"Test image number (0–{n - 1})", 0, n - 1, step=1, key=key))
    c2.button("🎲 Another", on_click=lambda: put(random.randrange(n)), key=random_key)
    return index


def picture(image: np.ndarray, px: int = PICTURE_PX) -> np.ndarray:
    """A uint8 (H, W) or (H, W, 3) image enlarged by a whole factor, each pixel a crisp square."""
    return enlarge(image, factor_for(image.shape[0], px))


def caption(test: cds.ImageSet, index: int) -> str:
    meta = cds.info(test.key)
    return f"{meta.title}, test image #{index}: labelled **{literal(meta.class_names[test.labels[index]])}**"


def verdict(probs: np.ndarray, labels: tuple[str, ...], truth: int | None) -> None:
    best = int(np.argmax(probs))
    mark = "" if truth is None else (" ✓" if best == truth else f" ✗ (labelled {literal(labels[truth])})")
    st.markdown(f"<div style='font-size:2.2rem;font-weight:700;line-height:1.1'>{literal_html(labels[best], 40)}</div>",
                unsafe_allow_html=True)
    st.markdown(f"**Prediction: {literal(labels[best])}** ({probs[best]:.1%}){mark}  \n" +
                " · ".join(f"{literal(labels[c])} {probs[c]:.1%}" for c in np.argsort(-probs)[:3]))


def prob_chart(probs: np.ndarray, labels: tuple[str, ...], key: str) -> None:
    """One bar per class, named (text in plotly is HTML: every name escaped)."""
    names = [literal_html(name, 24) for name in labels]
    best = int(np.argmax(probs))
    fig = go.Figure(go.Bar(x=names, y=probs, marker_color=["#2563eb" if i == best else "#94a3b8" for i in range(len(probs))],
                           text=[f"{p:.0%}" if p >= 0.01 else "" for p in probs], textposition="outside",
                           hovertemplate="%{x}: %{y:.2%}<extra></extra>"))
    fig.update_xaxes(type="category", tickangle=-40)
    fig.update_layout(height=260, margin={"l": 10, "r": 10, "t": 10, "b": 10}, yaxis_range=[0, 1.15],
                      yaxis_tickformat=".0%", showlegend=False)
    st.plotly_chart(fig, key=key, config={"displayModeBar": False})
