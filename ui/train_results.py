"""The Train page's views of a finished run: confusion matrix with its gallery, worst mistakes,
learned kernels and activation maps, and the comparison of this session's runs."""

from __future__ import annotations

import math
from typing import Any, Sequence
import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from core import colours
from core.data import mnist as cdata
from core.data import registry as cds
from core.arch import spec as archspec
from core.train import convnet
from core.arch import layer_table as lt
from core.arch import recipes
from core.train import loop
from core.train import runner
from core.train import tensors
from ui.pictures import enlarge, png_data_uri
from ui.text import literal_html
from ui.plot_click import clicked_cell
from ui.train_views import curves_figure, device, test_digits


# ---------------------------------------------------------------------------------------------
# Confusion matrix and galleries


def confusion_figure(confusion: np.ndarray, selected: tuple[int, int] | None = None,
                     names: Sequence[str] = cds.DIGITS) -> go.Figure:
    """Rows = true class, columns = predicted class; off-diagonal counts on a log-ish colour scale."""
    z = confusion.astype(float)
    colour = np.log1p(z)  # keeps the rare mistakes visible next to ~1,000 correct ones
    fig = go.Figure(go.Heatmap(
        z=colour, x=list(range(10)), y=list(range(10)), colorscale=colours.ACTIVATION_SCALE, showscale=False,
        text=confusion.astype(int), texttemplate="%{text}", customdata=z,
        hovertemplate="true %{y}, predicted %{x}: %{customdata:.0f}<extra></extra>", xgap=1, ygap=1,
    ))
    rows, cols = np.divmod(np.arange(100), 10)
    fig.add_trace(go.Scatter(
        x=cols, y=rows, mode="markers", marker={"size": 30, "opacity": 0.01, "symbol": "square"},
        customdata=np.stack([rows, cols], 1), showlegend=False,
        hovertemplate="true %{y}, predicted %{x}: click to see these digits<extra></extra>",
    ))
    if selected is not None:
        t, p = selected
        fig.add_shape(type="rect", x0=p - 0.5, x1=p + 0.5, y0=t - 0.5, y1=t + 0.5,
                      line={"color": "#dc2626", "width": 3})
    ticks = {"tickmode": "array", "tickvals": list(range(10)), "ticktext": [str(n) for n in names]}
    fig.update_yaxes(range=[9.5, -0.5], title_text="true", scaleanchor="x", constrain="domain",
                     showgrid=False, zeroline=False, **ticks)
    fig.update_xaxes(range=[-0.5, 9.5], title_text="predicted", side="top", constrain="domain",
                     showgrid=False, zeroline=False, tickangle=-45 if max(map(len, names)) > 2 else 0, **ticks)
    fig.update_layout(height=460, margin={"l": 10, "r": 10, "t": 40, "b": 10})
    return fig


def top3_caption(probs: np.ndarray, label: int, names: Sequence[str] = cds.DIGITS) -> list[str]:
    """The true class and the model's three best guesses, one a line: ["true 4 → 9: 84%", "4: 14%", "7: 1%"]."""
    order = np.argsort(probs)[::-1][:3]
    first, *rest = (f"{names[d]}: {100 * probs[d]:.0f}%" for d in order)
    return [f"true {names[label]} → {first}", *rest]


GALLERY_PX = 84  # each test image's width on the page


def gallery_html(images: Sequence[np.ndarray], captions: Sequence[Sequence[str]]) -> str:
    """One element: a grid of small images, each with its caption lines underneath. The grid fills the row
    and wraps (6 across on a desktop column, 3 on a phone); a caption wraps inside its own cell, so
    neighbouring captions never run into each other."""
    figures = "".join(
        f"<figure><img src='{png_data_uri(enlarge(np.asarray(img, np.uint8), 3))}' alt='{literal_html(lines[0])}'>"
        f"<figcaption>{'<br>'.join(literal_html(line) for line in lines)}</figcaption></figure>"
        for img, lines in zip(images, captions))
    return (f"<style>.cl-gallery{{display:grid;grid-template-columns:repeat(auto-fill,minmax({GALLERY_PX + 8}px,1fr));"
            "gap:10px 6px;margin:0 0 1rem}.cl-gallery figure{margin:0;min-width:0}"
            f".cl-gallery img{{width:{GALLERY_PX}px;image-rendering:pixelated;display:block}}"
            ".cl-gallery figcaption{font-size:0.75rem;line-height:1.25;overflow-wrap:anywhere;opacity:0.85}</style>"
            f"<div class='cl-gallery'>{figures}</div>")


def render_gallery(indices: np.ndarray, result: loop.EvalResult, empty: str = "", dataset: str = "shipped5k") -> None:
    """Test images with the model's top-3 probabilities under each, in the dataset's class names."""
    if len(indices) == 0:
        st.info(empty or "No images here.")
        return
    images, _ = test_digits(dataset)
    names = cds.info(dataset).class_names
    st.html(gallery_html([images[i] for i in indices],
                         [top3_caption(result.probabilities[i], int(result.labels[i]), names) for i in indices]))


def cell_indices(result: loop.EvalResult, true: int, pred: int, limit: int = 24) -> np.ndarray:
    """Test digits with this (true, predicted) pair, the model's most confident first."""
    idx = np.flatnonzero((result.labels == true) & (result.predictions == pred))
    conf = result.probabilities[idx, pred]
    return idx[np.argsort(-conf, kind="stable")][:limit]


def worst_errors(result: loop.EvalResult, limit: int = 24) -> np.ndarray:
    """Misclassified test digits, the most confidently wrong first (lowest probability of the truth)."""
    idx = np.flatnonzero(result.labels != result.predictions)
    p_true = result.probabilities[idx, result.labels[idx]]
    return idx[np.argsort(p_true, kind="stable")][:limit]


# ---------------------------------------------------------------------------------------------
# Kernels and activation maps


def montage(maps: np.ndarray, per_row: int, gap: int = 1) -> np.ndarray:
    """(K, H, W) → one (rows·(H+gap), cols·(W+gap)) image with NaN gaps (drawn transparent)."""
    k, h, w = maps.shape
    cols = min(per_row, k)
    rows = math.ceil(k / cols)
    out = np.full((rows * (h + gap) - gap, cols * (w + gap) - gap), np.nan)
    for i in range(k):
        r, c = divmod(i, cols)
        out[r * (h + gap):r * (h + gap) + h, c * (w + gap):c * (w + gap) + w] = maps[i]
    return out


def maps_figure(maps: np.ndarray, per_row: int, diverging: bool, title: str, px_per_cell: int = 6,
                max_width: int = 900) -> go.Figure:
    """One small image per channel, laid out in a grid (values normalised per figure)."""
    img = montage(maps, per_row)
    h, w = img.shape
    scale = max(2, min(px_per_cell, max_width // max(1, w)))
    if diverging:
        bound = float(np.nanmax(np.abs(img))) or 1.0
        heat = go.Heatmap(z=img, colorscale=colours.SIGNED_SCALE, zmin=-bound, zmax=bound, showscale=False,
                          hovertemplate="%{z:.3f}<extra></extra>")
    else:
        heat = go.Heatmap(z=img, colorscale=colours.ACTIVATION_SCALE, showscale=False,
                          hovertemplate="%{z:.3f}<extra></extra>")
    fig = go.Figure(heat)
    fig.update_yaxes(autorange="reversed", visible=False, scaleanchor="x", constrain="domain")
    fig.update_xaxes(visible=False, constrain="domain")
    fig.update_layout(height=int(h * scale) + 40, width=int(w * scale) + 20, title={"text": title, "font": {"size": 13}},
                      margin={"l": 5, "r": 5, "t": 30, "b": 5}, plot_bgcolor="rgba(0,0,0,0)")
    return fig


# ---------------------------------------------------------------------------------------------
# Comparison of this session's runs


def run_summary(result: runner.TrainResult, number: int) -> dict[str, Any]:
    """One row of the runs table; what a comparison is about comes first, so it is never cut off."""
    cfg = result.config
    return {
        "run": number,
        "architecture": result.spec.title,
        "test accuracy (%)": None if result.test is None else round(100 * result.test.accuracy, 2),
        "parameters": result.params,
        "train time (s)": round(result.seconds, 1),
        "multiply-adds": lt.count_macs(result.spec),
        "epochs": round(result.epochs_trained, 2),
        "training images": result.data_description.split(": ")[-1].split(" training")[0],
        "optimizer": f"{recipes.OPTIMIZERS[cfg.optimizer]}, lr {cfg.lr:g}" + (", aug" if cfg.augment else ""),
        "ended": result.stopped_reason,
        "network": result.spec.name,
    }


def render_comparison(runs: Sequence[dict[str, Any]]) -> None:
    frame = pd.DataFrame(list(runs)).drop(columns=["network"])
    st.dataframe(frame, hide_index=True, width="stretch", column_config={
        "run": st.column_config.NumberColumn(width="small"),
        "parameters": st.column_config.NumberColumn(format="localized"),
        "multiply-adds": st.column_config.NumberColumn(format="localized"),
        "test accuracy (%)": st.column_config.ProgressColumn(min_value=0, max_value=100, format="%.2f%%"),
    })
    st.caption("The table scrolls sideways for the training details.")


def dense_vs_conv(runs: Sequence[dict[str, Any]]) -> None:
    """After "same parameters: dense vs convolutional", both nets side by side (the last two runs)."""
    if len(runs) < 2 or runs[-1]["network"] != "dense_match":
        return
    st.markdown("#### Dense vs convolutional, same parameters")
    for col, run in zip(st.columns(2), runs[-2:]):
        with col.container(border=True):
            st.markdown(f"**{run['architecture']}**")
            acc = run["test accuracy (%)"]
            st.metric("Test accuracy", "—" if acc is None else f"{acc:.2f}%")
            st.caption(f"{run['parameters']:,} parameters · {run['multiply-adds']:,} multiply-adds · "
                       f"{run['train time (s)']} s of training")


# ---------------------------------------------------------------------------------------------
# Results of a finished run


def results_section(result: runner.TrainResult) -> None:
    st.subheader("4 · Results")
    st.caption(f"{result.spec.title} · {result.data_description} · {result.device} · "
               f"{recipes.OPTIMIZERS[result.config.optimizer]}, lr {result.config.lr:g}, batch {result.config.batch_size}"
               f"{', augmented' if result.config.augment else ''}")
    st.plotly_chart(curves_figure(result.history, result.batch_log, result.config.epochs), key="train.curves")
    test = result.test
    if test is None:
        st.info("There is no test accuracy for this run: " + result.message)
        return
    c1, c2, c3, c4 = st.columns(4)
    meta = cds.info(result.config.dataset)
    train = result.train
    c1.metric(f"Test accuracy ({test.n:,} {meta.item}s)", f"{100 * test.accuracy:.2f}%")
    if train is None:
        c2.metric("Test mistakes", f"{int((test.labels != test.predictions).sum()):,}")
    else:
        # no help tooltip: its button would be one more "Train…" button on the page
        c2.metric(f"Training accuracy ({train.n:,} {meta.item}s)", f"{100 * train.accuracy:.2f}%")
    c3.metric("Parameters", f"{result.params:,}")
    c4.metric("Training time", f"{result.seconds:.1f} s")
    mistakes = int((test.labels != test.predictions).sum())
    if train is not None:
        st.caption(f"Loss (mean cross-entropy): training {train.loss:.4f} · test {test.loss:.4f}; {mistakes:,} test "
                   f"{meta.item}s wrong. The final network on its own training {meta.item}s, with dropout and "
                   "augmentation off: the gap to the test set is what it memorised rather than learned.")
    st.markdown(f"**Accuracy per {'digit' if meta.item == 'digit' else 'class'}**")
    per_class = {meta.class_names[d]: f"{100 * a:.1f}%" for d, a in enumerate(test.per_class)}
    st.dataframe([per_class], hide_index=True)
    confusion_view(test, result.config.dataset)
    st.markdown("#### Most confident mistakes")
    st.caption(f"Test {meta.item}s the model got wrong, the ones where it gave the true class the least "
               "probability first. Under each: the true class and the model's top three guesses.")
    render_gallery(worst_errors(test), test, empty="No mistakes at all on the test set.",
                   dataset=result.config.dataset)
    kernels_view(result)


def _take_cm_click() -> None:
    cell = clicked_cell(st.session_state.get("train.cm_chart"))
    if cell is not None:
        st.session_state["train.cm_true"], st.session_state["train.cm_pred"] = cell


def confusion_view(test: loop.EvalResult, dataset: str = "shipped5k") -> None:
    st.markdown("#### Confusion matrix")
    st.caption("Row = the true digit, column = the model's answer; the diagonal is right, everything else is a "
               "mistake. Click a cell (or pick it below) to see those digits.")
    if "train.cm_true" not in st.session_state:
        off = test.confusion - np.diag(np.diag(test.confusion))
        t, p = np.unravel_index(int(np.argmax(off)), off.shape)
        st.session_state["train.cm_true"], st.session_state["train.cm_pred"] = int(t), int(p)
    left, right = st.columns([1, 1])
    with right:
        a, b = st.columns(2)
        meta = cds.info(dataset)
        names = meta.class_names
        true = a.selectbox(f"True {'digit' if meta.item == 'digit' else 'class'}", range(len(names)),
                           key="train.cm_true", format_func=names.__getitem__)
        pred = b.selectbox(f"Predicted {'digit' if meta.item == 'digit' else 'class'}", range(len(names)),
                           key="train.cm_pred", format_func=names.__getitem__)
        count = int(test.confusion[true, pred])
        st.markdown(f"**{count} test {meta.item}{'s' if count != 1 else ''}** labelled {names[true]}, "
                    f"classified as {names[pred]}{' (correct)' if true == pred else ''}:")
        render_gallery(cell_indices(test, true, pred, limit=18), test, dataset=dataset,
                       empty="The model never made this choice.")
    with left:
        st.plotly_chart(confusion_figure(test.confusion, (true, pred), names), key="train.cm_chart",
                        on_select=_take_cm_click, selection_mode="points", config={"displayModeBar": False})


def kernels_view(result: runner.TrainResult) -> None:
    weights = convnet.first_conv_weight(result.model)
    st.markdown("#### What the convolutions learned")
    if weights is None:
        st.info("This network has no convolution layer, so there are no kernels or feature maps to show: every "
                "unit looks at all 784 pixels at once.")
        return
    st.caption(f"The {weights.shape[0]} kernels of the first conv layer (blue negative, red positive). Each "
               "one slides over the digit; below, what every conv layer makes of the digit you pick.")
    st.plotly_chart(maps_figure(weights[:, 0], per_row=16, diverging=True, px_per_cell=12,
                                   title=f"conv1 kernels ({weights.shape[2]}×{weights.shape[3]})"),
                    key="train.kernels", config={"displayModeBar": False})
    dataset = result.config.dataset
    c1, c2, c3 = st.columns([1, 1, 4])
    digit = c1.selectbox("Test digit", range(10), key="train.act_digit")
    which = c2.number_input("Example number", 0, 99, 0, key="train.act_index")
    image = cdata.sample_digit(cds.load_test(dataset), digit, int(which))
    probs, acts = tensors.activations_for(result.model, image, device(), dataset)
    with c3:
        st.image(enlarge(np.asarray(image, np.uint8), 4), width=112,
                 caption=f"model says {int(np.argmax(probs))} ({100 * probs.max():.0f}%)")
    for label, act in zip(lt.activation_labels(result.spec), acts):
        st.plotly_chart(maps_figure(act, per_row=16, diverging=False,
                                       title=f"{label} + {archspec.ACTIVATIONS[result.spec.activation]}: "
                                             f"{act.shape[0]} feature maps of {act.shape[1]}×{act.shape[2]}"),
                        key=f"train.acts.{label}", config={"displayModeBar": False})
