"""The teacher's dashboard of a class: reachable only with the class's key, refreshed while the class draws."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from core.store import classes as cl
from core.store.store import Store, StoreUnavailable
from ui.text import literal

REFRESH_S = 5  # the class draws for ten minutes: new drawings show within five seconds


@st.cache_resource(show_spinner=False)
def _shipped_models() -> tuple:
    from core.infer.runtime import list_models, load_model

    return tuple(load_model(e.path) for e in list_models() if e.source == "shipped" and e.card is not None
                 and e.card.input_shape == (1, 28, 28) and e.card.reads_digits)


def dashboard(store: Store, class_id: str, key: str) -> None:
    info = cl.teacher_class(store, class_id, key)
    if info is None:  # the same words for a wrong key and a missing class: a guess learns nothing
        st.error("This teacher link is not valid, or the class has ended.")
        return
    st.subheader(f"Dashboard: {literal(info.name)}")
    st.caption(f"Digits {', '.join(map(str, info.digits))}; each student draws each {info.per_student}× "
               f"({info.per_student_total} drawings). Refreshes every {REFRESH_S} s.")
    live(store, info)
    _delete(store, info, key)


@st.fragment(run_every=REFRESH_S)
def live(store: Store, info: cl.ClassInfo) -> None:
    try:
        data = cl.class_set(store, info)
    except StoreUnavailable as exc:
        st.warning(literal(exc, 300))
        return
    students = sorted(set(data.students))
    c1, c2 = st.columns(2)
    c1.metric("Drawings", len(data.labels))
    c2.metric("Students", len(students))
    if not len(data.labels):
        st.info("No drawings yet: share the join link.")
        return
    per_digit = pd.DataFrame({"digit": [str(d) for d in info.digits],
                              "drawings": [int((data.labels == d).sum()) for d in info.digits]})
    st.bar_chart(per_digit, x="digit", y="drawings", height=220)
    _per_student(data, students)
    scores = _scores(data)
    _gallery(data, scores)
    _export(data)


def _per_student(data: cl.ClassSet, students: list[str]) -> None:
    rows = []
    for i, token in enumerate(students, start=1):
        mine = [n for s, n in zip(data.students, data.nicknames) if s == token]
        rows.append({"student": f"#{i}", "nickname": mine[-1] if mine else "", "drawings": len(mine)})
    st.markdown("**Per student** (nicknames as typed)")
    st.dataframe(pd.DataFrame(rows), hide_index=True)  # a dataframe shows text as text, never as Markdown


def _scores(data: cl.ClassSet) -> list:
    from core.infer.class_report import score

    scores = [score(m, data.images, data.labels) for m in _shipped_models()]
    st.markdown("**Each shipped model on our class's drawings, and on MNIST's test set**")
    st.dataframe(pd.DataFrame({"model": [s.name for s in scores],
                               "our class": [f"{s.class_accuracy:.1%}" for s in scores],
                               "MNIST test": [f"{s.mnist_accuracy:.1%}" for s in scores]}), hide_index=True)
    return scores


def _gallery(data: cl.ClassSet, scores: list) -> None:
    from core.infer.class_report import worst_mistakes

    if not scores:
        return
    names = [s.name for s in scores]
    chosen = st.selectbox("Model for the confusion matrix", names, key="class.dash.model")
    result = scores[names.index(chosen)]
    st.markdown("**Confusion matrix** (row: the digit asked for; column: the model's answer)")
    st.dataframe(pd.DataFrame(result.confusion, index=[f"asked {d}" for d in range(10)],
                              columns=[str(d) for d in range(10)]))
    worst = worst_mistakes(result)
    if len(worst):
        st.markdown("**Worst mistakes** (the wrong answers given with the most confidence)")
        st.image([data.images[i] for i in worst], width=84, caption=[
            f"asked {data.labels[i]}, read {result.predicted[i]} ({result.confidence_wrong[i]:.0%})" for i in worst])
    recent = np.arange(len(data.labels))[::-1][:24]
    st.markdown("**The newest drawings**")
    st.image([data.images[i] for i in recent], width=56, caption=[str(data.labels[i]) for i in recent])


def _export(data: cl.ClassSet) -> None:
    from core.infer.class_report import to_csv, to_npz

    d1, d2 = st.columns(2)
    d1.download_button("⬇️ Class set (.npz: images, labels)", to_npz(data.images, data.labels),
                       file_name="class_digits.npz", mime="application/octet-stream", key="class.dl_npz")
    d2.download_button("⬇️ Labels (.csv)", to_csv(data.ids, data.labels, data.nicknames),
                       file_name="class_labels.csv", mime="text/csv", key="class.dl_csv")


def _delete(store: Store, info: cl.ClassInfo, key: str) -> None:
    with st.expander("Delete this class"):
        sure = st.checkbox("Yes, delete the class and every drawing in it", key="class.dash.sure")
        if st.button("Delete the class", disabled=not sure, key="class.dash.delete"):
            try:
                gone = cl.delete_class(store, info.id, key)
            except StoreUnavailable as exc:
                st.error(literal(exc, 300))
                return
            if gone:
                st.success("The class and its drawings are deleted.")
