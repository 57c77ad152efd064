"""The direction rules, read from the source: every import statement, at any depth, of every module.

* ``core`` never imports streamlit, ``ui`` or ``pages``: it is plain Python that a test, a benchmark or a
  script can call.
* Only ``core/train`` imports torch. Nothing else in ``core`` imports ``core.train``, so the inference
  path (``core/infer``: preprocessing and onnxruntime) and the lessons never load torch.
* ``ui`` never imports ``pages``.

The pages are checked at run time as well (tests/test_torch_free.py: six pages in a fresh interpreter).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import REPO


def modules(folder: str) -> list[Path]:
    return sorted(p for p in (REPO / folder).rglob("*.py"))


def imported(path: Path, root: Path = REPO) -> list[str]:
    """Every module name an import statement in ``path`` names (relative imports resolved)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = ".".join(path.relative_to(root).with_suffix("").parts[:-1])
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base]) if base else ".".join(parts)
            names.append(base)
            names += [f"{base}.{a.name}" for a in node.names]  # ``from core import train`` names core.train
    return names


def under(name: str, root: str) -> bool:
    return name == root or name.startswith(root + ".")


def rel(path: Path) -> str:
    return str(path.relative_to(REPO))


@pytest.mark.parametrize("path", modules("core"), ids=rel)
def test_core_never_imports_streamlit_ui_or_pages(path):
    bad = [n for n in imported(path) if any(under(n, r) for r in ("streamlit", "ui", "pages"))]
    assert not bad, f"{rel(path)} imports {bad}"


@pytest.mark.parametrize("path", [p for p in modules("core") if not under(".".join(p.relative_to(REPO).parts), "core.train")],
                         ids=rel)
def test_only_core_train_imports_torch(path):
    bad = [n for n in imported(path) if under(n, "torch") or under(n, "core.train")]
    assert not bad, f"{rel(path)} imports {bad}: torch lives in core/train only"


@pytest.mark.parametrize("path", modules("ui"), ids=rel)
def test_ui_never_imports_pages(path):
    bad = [n for n in imported(path) if under(n, "pages")]
    assert not bad, f"{rel(path)} imports {bad}"


def test_the_rules_see_real_imports(tmp_path):
    """The walker finds imports inside functions and relative ones (a rule that sees nothing cannot fail)."""
    (tmp_path / "core" / "infer").mkdir(parents=True)
    fake = tmp_path / "core" / "infer" / "fake.py"
    fake.write_text("def f():\n    import torch.nn\n    from ..train import loop\n    from core import train\n")
    names = imported(fake, tmp_path)
    assert "torch.nn" in names and "core.train.loop" in names and "core.train" in names
