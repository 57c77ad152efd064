"""The class activity's three views: a teacher creates a class, a student draws for it, the teacher's
dashboard. Everything in a link, a row or a nickname is a stranger's text: bounded, shown literally."""

from __future__ import annotations

import os

import numpy as np
import streamlit as st

from core.store import classes as cl
from core.store.store import Store, StoreUnavailable
from ui import canvas
from ui.text import literal

CLASS_DAYS_ENV = "CONVLAB_CLASS_DAYS"
LAST_KEY = "class.last"
CREATED_KEY = "class.created"
PAGE = "pages/classroom.py"


def class_days() -> float:
    try:
        days = float(os.environ.get(CLASS_DAYS_ENV, cl.DEFAULT_CLASS_DAYS))
    except ValueError:
        days = cl.DEFAULT_CLASS_DAYS
    return min(max(days, 1.0), 365.0)


def param(name: str, limit: int) -> str:
    """A query parameter, "" when absent or longer than ``limit`` (a link's value is never trusted)."""
    value = st.query_params.get(name, "")
    return value if isinstance(value, str) and len(value) <= limit else ""


def page_url() -> str:
    from ui.share_control import page_url as current

    return current() or "/classroom"


@st.cache_resource(show_spinner=False)
def _default_model():
    from core.infer.runtime import default_model_path, load_model

    return load_model(default_model_path())


def create(store: Store) -> None:
    st.markdown("Create a class: your students draw the digits you pick on their phones, and you watch how "
                "the models do on **your class's own handwriting**.")
    with st.form("class.create"):
        name = st.text_input("Class name", max_chars=cl.MAX_NAME, key="class.name")
        digits = st.multiselect("Digits to draw", list(range(10)), default=list(range(10)), key="class.digits")
        per = st.number_input("Drawings of each digit per student", 1, cl.MAX_PER_DIGIT, 1, key="class.per")
        go = st.form_submit_button("Create the class", type="primary")
    if go:
        try:
            cl.expire_classes(store, class_days())
            info, key = cl.create_class(store, name, "".join(map(str, digits)), int(per))
        except (cl.ClassRefused, StoreUnavailable) as exc:
            st.error(literal(exc, 300))
            return
        st.session_state[CREATED_KEY] = (info.id, key)
    created = st.session_state.get(CREATED_KEY)
    if created:
        _links(store, *created)


def _links(store: Store, class_id: str, key: str) -> None:
    from core.links.qr import qr_png

    info = cl.get_class(store, class_id)
    if info is None:
        return
    join = f"{page_url()}?c={class_id}"
    st.success(f"Class **{literal(info.name)}** created.")
    left, right = st.columns([1, 1])
    with left:
        st.markdown("**Join link**: show it on the board; students scan it.")
        st.code(join, language=None)
        st.image(qr_png(join), caption="QR code of the join link", width=260)
    with right:
        st.markdown("**Your teacher link**: it holds the class's secret key. Keep it to yourself; it is shown "
                    "only now.")
        st.code(f"{join}&k={key}", language=None)
        st.page_link(PAGE, label="Open the dashboard", icon="📊", query_params={"c": class_id, "k": key})
    st.caption(f"The class and its drawings are removed {class_days():g} days after the last drawing or "
               f"dashboard visit, or when you delete it from the dashboard.")


def student(store: Store, class_id: str, token: str) -> None:
    info = cl.get_class(store, class_id)
    if info is None:
        st.error("This class link is not valid, or the class has ended. Ask your teacher for the link.")
        return
    st.subheader(f"Class: {literal(info.name)}")
    nickname = st.text_input("Nickname (optional, shown to your teacher)", max_chars=cl.MAX_NAME, key="class.nick")
    order = cl.prompts(info, token)
    done = cl.student_count(store, info.id, token)
    _last_answer()
    if done >= len(order):
        st.success(f"You drew all {len(order)} digits. Thank you! Look at the board for what the models made of them.")
        return
    target = order[done]
    st.progress(done / len(order), text=f"Drawing {done + 1} of {len(order)}")
    st.markdown(f"### Draw a **{target}**")
    image = canvas.drawing_canvas(f"class.canvas.{done}", 22)  # a new key per prompt: an empty canvas each time
    if st.button("Store this drawing", type="primary", key=f"class.store.{done}", disabled=image is None):
        _store(store, info, token, nickname, target, image)


def _store(store: Store, info: cl.ClassInfo, token: str, nickname: str, target: int, image: np.ndarray) -> None:
    from core.infer.predict import classify_images
    from core.infer.preprocess import preprocess

    pre = preprocess(image)
    if pre.empty:
        st.warning(f"Nothing to store: {literal(pre.reason, 200)}")
        return
    try:
        cl.add_drawing(store, info, token, nickname, target, pre.image)
    except (cl.ClassRefused, StoreUnavailable) as exc:
        st.warning(literal(exc, 300))  # not stored: the student sees it and draws it again
        return
    probs = classify_images(_default_model(), np.rint(pre.image * 255).astype(np.uint8)[None])[0]
    st.session_state[LAST_KEY] = (target, int(probs.argmax()), float(probs.max()))
    st.rerun()


def _last_answer() -> None:
    last = st.session_state.get(LAST_KEY)
    if last:
        target, answer, p = last
        verdict = "✅ the model agrees" if answer == target else "❌ the model read something else"
        st.info(f"Stored your **{target}**. The model read it as **{answer}** ({p:.0%}): {verdict}.")
