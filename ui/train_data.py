"""The Train page's dataset choice and downloads, through the server's download gate and memory budget."""

from __future__ import annotations

import streamlit as st

from core.arch import recipes
from core.data import mnist as cdata
from core.data import registry as cds
from ui import state
from ui.server_resources import download_gate, memory_budget
from ui.text import literal


def dataset_controls(keys: state.Keys, busy: bool, linked: str) -> str:
    """The dataset choice and its download button; returns the dataset training uses.

    Full MNIST not yet downloaded falls back to the 5,000 shipped digits (same images, same classes);
    Fashion-MNIST and CIFAR-10 must be downloaded first (training explains that until they are).
    ``linked``: the dataset the page's settings (its link) name."""
    chosen = linked
    if keys.offered("data"):
        chosen = st.radio("Training data", tuple(recipes.DATASETS), key=keys.data, format_func=recipes.DATASETS.get,
                          disabled=busy, horizontal=True)
    mnist_cached = cdata.full_mnist_cached()
    usable = "shipped5k" if chosen == "full60k" and not mnist_cached else chosen
    if not keys.offered("data"):
        return usable
    if chosen == "full60k" and not mnist_cached:
        st.warning("Full MNIST is not downloaded yet: training uses the 5,000 shipped digits until it is.")
    if not mnist_cached and st.button("⬇️ Download full MNIST (60,000 digits, about 10 MB)", disabled=busy,
                                      key="train._download"):
        # the same gate key as the data page's download of full60k: one download per server
        download(lambda progress: download_gate().run(str(cds.folder("full60k").resolve()),
                                                      lambda p: cdata.download_full_mnist(progress=p), progress))
    meta = cds.info(chosen)
    if meta.downloadable and chosen != "full60k" and not cds.is_cached(chosen):
        st.info(f"{meta.title} is not downloaded yet ({meta.download_size}); download it to train on it.")
        if st.button(f"⬇️ Download {meta.title}", disabled=busy, key=f"train._download_{chosen}"):
            download(lambda progress: cds.download(chosen, progress=progress, gate=download_gate(),
                                                   budget=memory_budget()))
    return usable


def download(fetch) -> None:
    """Run ``fetch(progress=...)`` with a progress bar; a DataError (offline, checksum) becomes a message."""
    bar = st.progress(0.0, text="Connecting…")

    def progress(name: str, got: int, total: int) -> None:
        bar.progress(min(1.0, got / total) if total else 0.0, text=f"{name}: {got / 1e6:.1f} MB")

    try:
        fetch(progress)
    except cdata.DataError as exc:
        bar.empty()
        st.error(literal(exc, 400), icon="📡")  # a mirror's or the OS's words: shown literally
        return
    bar.progress(1.0, text="Downloaded and verified.")
    st.rerun()
