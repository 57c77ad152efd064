"""The output-size formula on a page: one aligned block of worked steps, and its notes.

``core.arithmetic`` writes the formula (LaTeX and plain text from the same terms); this is the one
place a page lays it out, so the arithmetic and pooling lessons show it the same way.
"""

from __future__ import annotations

import streamlit as st

from core import arithmetic as ar
from core.lessons import conv_layer


def _aligned(latex: str) -> str:
    """One line of an aligned block: align at the first '=' (the ceil_mode line gets an 'o' of its own)."""
    tag = r"\text{ceil mode: }"
    if latex.startswith(tag):
        latex = "o = " + latex[len(tag):].strip() + r" \quad \text{(ceil mode)}"
    return latex.replace("=", "&=", 1)


def formula_block(ax: ar.AxisResult, output_padding: int | None = None, title: str = "") -> None:
    """The formula for one axis, worked with its numbers; ``output_padding`` given: a transposed conv."""
    steps = (conv_layer.transposed_formula_steps(ax, output_padding) if output_padding is not None
             else conv_layer.conv_formula_steps(ax))
    if title:
        st.markdown(f"**{title}**")
    lines = [_aligned(s.latex) for s in steps if s.latex]
    st.latex(r"\begin{aligned}" + r" \\ ".join(lines) + r"\end{aligned}")
    for s in steps:
        if s.note:
            st.caption(s.note)



def formula_markdown(ax: ar.AxisResult, output_padding: int | None = None, title: str = "") -> str:
    """The formula for one axis as one Markdown text in plain Unicode (fits a narrow column; one element
    instead of one per line and note), the result in bold, the notes (floor, ceil mode) after it."""
    lines = conv_layer.formula_lines_plain(ax, output_padding)
    if ax.ok:
        head, _, last = lines[-1].rpartition(" = ")
        lines[-1] = f"{head} = **{last}**"
    notes = [] if output_padding is not None else [s.note for s in conv_layer.conv_formula_steps(ax)[1:] if s.note]
    head = f"**{title}**  \n" if title else ""
    return head + "  \n".join(lines) + "".join(f"\n\n<small>{note}</small>" for note in notes)
