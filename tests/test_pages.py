"""Every listed page runs under AppTest without an exception, and the navigation lists exactly them."""

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import REPO
from ui.registry import HOME, PAGES as LESSONS  # every page of the menu, the class activity included

APP = str(REPO / "streamlit_app.py")


def app() -> AppTest:
    return AppTest.from_file(APP, default_timeout=120)


@pytest.mark.parametrize("page", [HOME, *LESSONS], ids=lambda p: p.url_path)
def test_every_page_runs(page):
    at = app()
    at.run()
    if page is not HOME:
        at.switch_page(page.file).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title, f"{page.file} shows no title"


def test_home_lists_every_lesson():
    at = app().run()
    text = " ".join(m.value for m in at.markdown)
    for page in LESSONS:
        assert page.title in text and page.blurb in text


def test_registry_url_paths_equal_file_stems():
    # ui.nav.ensure_navigation relies on it (page hashes come from url paths).
    from pathlib import Path

    for page in (HOME, *LESSONS):
        assert Path(page.file).stem == page.url_path
        assert (REPO / page.file).exists()


def test_no_placeholder_pages():
    listed = {HOME.file, *(p.file for p in LESSONS)}
    on_disk = {f"pages/{p.name}" for p in (REPO / "pages").glob("*.py") if p.name != "__init__.py"}
    assert on_disk == listed, "every page file must be listed (and work), and every listed page must exist"
