"""benchmarks/run_all.py: each benchmark in its own process; failures are recorded, the rest still run."""

from __future__ import annotations

import textwrap

from benchmarks import run_all

GOOD = '''
"""A benchmark that works."""
from benchmarks.common import Result, check


def run(quick=False):
    return [check("speed", 2.0 if quick else 5.0, "ms", limit=3.0), Result("size", 7, "MB")]
'''
BAD = '''
"""A benchmark that raises."""


def run():
    raise ValueError("no model file to measure")
'''
CRASH = '''
"""A benchmark whose process dies."""
import os


def run():
    os._exit(3)
'''


def _bench_dir(tmp_path):
    d = tmp_path / "benches"
    d.mkdir()
    for name, text in (("good", GOOD), ("bad", BAD), ("crash", CRASH)):
        (d / f"bench_{name}.py").write_text(textwrap.dedent(text))
    return d


def test_a_failing_benchmark_is_recorded_and_the_others_still_run(tmp_path):
    d = _bench_dir(tmp_path)
    names = run_all.discover(d)
    assert names == ["bad", "crash", "good"]
    outcomes = [run_all.run_one(n, quick=False, bench_dir=d, timeout_s=120) for n in names]
    by = {o.name: o for o in outcomes}
    assert "ValueError: no model file to measure" in by["bad"].error
    assert "exited with code 3" in by["crash"].error
    assert not by["good"].error and [r.value for r in by["good"].results] == [5.0, 7]
    assert by["good"].results[0].ok is False and by["good"].title == "A benchmark that works."

    doc = tmp_path / "benchmarks.md"
    run_all.write_doc(outcomes, False, "2026-01-01 00:00 UTC", (0.5, 0.7), names, path=doc)
    text = doc.read_text()
    for needle in ("**Machine**", "cores", "GiB RAM", "torch ", "onnxruntime ", "streamlit ", "numpy ",
                   "Python 3", "2026-01-01 00:00 UTC", "## good: A benchmark that works.", "| speed | 5 ms | ≤ 3 ms | **no** |",
                   "**Failed to run**: `ValueError: no model file to measure`", "failed to run: bad, crash",
                   "targets missed: good: speed"):
        assert needle in text, needle


def test_quick_reaches_benchmarks_that_accept_it_and_only_keeps_other_sections(tmp_path):
    d = _bench_dir(tmp_path)
    doc = tmp_path / "benchmarks.md"
    names = run_all.discover(d)
    first = [run_all.run_one(n, quick=False, bench_dir=d, timeout_s=120) for n in names]
    run_all.write_doc(first, False, "2026-01-01 00:00 UTC", (0.1, 0.1), names, path=doc)
    again = [run_all.run_one("good", quick=True, bench_dir=d, timeout_s=120)]
    assert again[0].results[0].value == 2.0 and again[0].results[0].ok is True
    run_all.write_doc(again, True, "2026-02-02 00:00 UTC", (0.1, 0.1), names, path=doc)
    text = doc.read_text()
    assert "| speed | 2 ms | ≤ 3 ms | yes |" in text and "| speed | 5 ms |" not in text
    # The sections not re-run are kept as they were, with their own date.
    assert "**Failed to run**: `ValueError: no model file to measure`" in text
    assert text.count("2026-01-01 00:00 UTC") == 2 and text.index("## bad") < text.index("## good")


def test_the_hand_written_notes_block_survives_a_rewrite(tmp_path):
    d = _bench_dir(tmp_path)
    doc = tmp_path / "benchmarks.md"
    names = run_all.discover(d)
    good = [run_all.run_one("good", quick=True, bench_dir=d, timeout_s=120)]
    run_all.write_doc(good, True, "2026-01-01 00:00 UTC", (0.1, 0.1), names, path=doc)
    notes = "<!-- notes -->\n## Failover\n\n| kill → reconnect | 0.6–3.0 s |\n<!-- /notes -->\n"
    doc.write_text(doc.read_text() + "\n" + notes)
    run_all.write_doc(good, True, "2026-02-02 00:00 UTC", (0.1, 0.1), names, path=doc)
    text = doc.read_text()
    assert text.count(notes) == 1 and text.index("## good") < text.index("## Failover")


TABLED = '''
"""A benchmark with its own table."""
from benchmarks.common import Result


def run_with_markdown(quick=False):
    return [Result("students", 20.0, "students")], "| students | p95 |\\n|---:|---:|\\n| 20 | 0.4 |"


def run(quick=False):
    return run_with_markdown(quick)[0]
'''


def test_a_benchmarks_own_markdown_lands_in_its_section(tmp_path):
    d = tmp_path / "benches"
    d.mkdir()
    (d / "bench_tabled.py").write_text(textwrap.dedent(TABLED))
    outcome = run_all.run_one("tabled", quick=True, bench_dir=d, timeout_s=120)
    assert not outcome.error and [r.value for r in outcome.results] == [20.0]
    doc = tmp_path / "benchmarks.md"
    run_all.write_doc([outcome], True, "2026-01-01 00:00 UTC", (0.1, 0.1), ["tabled"], path=doc)
    section = run_all.SECTION_RE.search(doc.read_text()).group(0)
    assert "| students | 20 students |" in section and "| 20 | 0.4 |" in section


def test_every_benchmark_defines_run():
    """run_all imports each bench_*.py and calls ``run()``: one without it would fail the whole run."""
    import ast

    missing = []
    for name in run_all.discover():
        tree = ast.parse((run_all.BENCH_DIR / f"bench_{name}.py").read_text())
        if not any(isinstance(n, ast.FunctionDef) and n.name == "run" for n in tree.body):
            missing.append(name)
    assert run_all.discover() and not missing, f"benchmarks without run(): {missing}"
