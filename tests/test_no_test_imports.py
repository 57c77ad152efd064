"""benchmarks/ and scripts/ never import the test package (its conftest patches Streamlit for AppTest)."""

import ast

import pytest

from tests.conftest import REPO

NOT_YET_FIXED: dict[str, str] = {}  # file → why it still imports tests/ (strict xfail); empty since 2026-12-01
FILES = sorted([*(REPO / "benchmarks").glob("*.py"), *(REPO / "scripts").glob("*.py")])


def _case(path):
    name = f"{path.parent.name}/{path.name}"
    marks = [pytest.mark.xfail(strict=True, reason=NOT_YET_FIXED[name])] if name in NOT_YET_FIXED else []
    return pytest.param(path, id=name, marks=marks)


@pytest.mark.parametrize("path", [_case(p) for p in FILES])
def test_does_not_import_tests(path):
    tree = ast.parse(path.read_text())
    imported = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    imported += [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    assert not [m for m in imported if m == "tests" or m.startswith("tests.")], path
    # Code run in a child interpreter hides in strings: no "import tests" there either.
    strings = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)]
    assert not [s for s in strings if "import tests" in s or "from tests" in s], path
