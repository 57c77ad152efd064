"""Class activity: a teacher creates a class, students draw the digits it asks for, the teacher watches.

One page, three views chosen by its link: no parameters (create a class), ``?c=ID`` (a student's join
link), ``?c=ID&k=KEY`` (the teacher's dashboard, only with the right key).
"""

import streamlit as st

from ui.nav import ensure_navigation

ensure_navigation()

from core.store.store import StoreUnavailable  # noqa: E402
from ui import class_views as cv  # noqa: E402
from ui.class_dashboard import dashboard  # noqa: E402
from ui.export_panel import session_token  # noqa: E402
from ui.store_access import browser_token, store  # noqa: E402
from ui.text import literal  # noqa: E402


def main() -> None:
    st.title("🧑‍🏫 Our class's handwriting")
    browser_token()  # a student's drawings are counted under their browser's anonymous token
    try:
        opened = store()
    except StoreUnavailable as exc:
        st.error(literal(exc, 300))
        return
    class_id, key = cv.param("c", 64), cv.param("k", 256)  # overlong: refused by the checks, not ignored
    try:
        if class_id and key:
            dashboard(opened, class_id, key)
        elif class_id:
            cv.student(opened, class_id, session_token())
        else:
            cv.create(opened)
    except StoreUnavailable as exc:  # a read failed mid-page: say so, keep the page
        st.error(literal(exc, 300))


main()
