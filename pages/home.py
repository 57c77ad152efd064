"""Home: what ConvLab teaches, one card per lesson, and how a CNN sees in one paragraph."""

import streamlit as st

from ui.nav import ensure_navigation
from ui.registry import PAGES

ensure_navigation()

from ui.share_control import share_control  # noqa: E402

CARDS_PER_ROW = 3

# The same top as every lesson (ui.state.header): title, and the Share control right of it.
head, share_col = st.columns([6, 1], vertical_alignment="center")
head.title("🧠 ConvLab: how convolutional networks see")
with share_col:
    share_control()
st.markdown(
    "Hands-on lessons on the ideas inside a convolutional neural network (CNN). Every number on these "
    "pages is computed live (checked against PyTorch where it matters), every view can be shared as a "
    "link that reopens exactly what you see, and nothing needs an internet connection."
)

st.subheader("How a CNN sees, in one paragraph")
st.markdown(
    "A CNN does not look at a whole image at once. Each **convolution** layer slides small grids of "
    "weights (**kernels**, e.g. 3×3) across the image and, at every position, multiplies the pixels "
    "under the kernel by the weights and adds them up: one number per position, a **feature map** that "
    "lights up where the pattern the kernel encodes (an edge, a curve) appears. **Stride** and "
    "**padding** decide how far the kernel jumps and what happens at the border, and so how big the "
    "feature map is. **Pooling** shrinks feature maps by keeping the strongest (max) or average response "
    "in each small window, which makes the network tolerant to small shifts. Stacking layers lets later "
    "kernels combine earlier patterns over ever larger **receptive fields**, until a final layer turns "
    "them into ten scores, one per digit. Nobody designs these kernels by hand: training adjusts them, "
    "batch by batch, to make the right score win."
)

st.subheader("Lessons")
# One row of columns per three cards: on a phone the columns stack row by row, so the cards keep the
# lessons' order (one set of three columns filled round-robin stacked as 1, 4, 2, 5, 3).
for first in range(0, len(PAGES), CARDS_PER_ROW):
    row = PAGES[first:first + CARDS_PER_ROW]
    for col, page in zip(st.columns(CARDS_PER_ROW), row):
        with col.container(border=True):
            st.markdown(f"### {page.icon} {page.title}")
            st.write(page.blurb)
            st.page_link(page.file, label=f"Open {page.title}", icon="➡️")

st.subheader("A path for one lesson")
st.markdown(
    "About 90 minutes: **1** look at the data (10 min) → **2** convolution arithmetic (15) → **3** filters "
    "on a photograph (15) → **4** pooling (10) → **5** train a CNN, then dense vs convolutional (20) → "
    "**6** draw digits (10) → **7** inside the network (10). The teacher guide (`docs/teaching.md` in "
    "ConvLab's folder) says what to ask at each step and which classroom link to hand out."
)

st.caption(
    "MNIST digits © Yann LeCun, Corinna Cortes and Christopher J.C. Burges, CC BY-SA 3.0. "
    "Tip: every page has a 🔗 Share button; its link reopens the exact view."
)
