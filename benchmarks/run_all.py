"""Run every ``benchmarks/bench_*.py``, print each table and rewrite ``docs/benchmarks.md``.

``python -m benchmarks.run_all [--quick] [--only coldstart,load] [--no-write]``

Each benchmark runs in its own Python process (import the module, call ``run()``), so one that crashes
or hangs cannot take the others down and memory figures are not inflated by the benchmarks before it.
A benchmark that fails gets its error in the document and the others still run. ``--quick`` passes
``quick=True`` to the benchmarks whose ``run`` accepts it (the others run in full). With ``--only``, the
sections of the benchmarks not run are kept from the existing document, each with its own date.

A benchmark whose table needs more than result rows (``capacity``: students per core, one line per
count) also defines ``run_with_markdown(quick) -> (results, markdown)``; its markdown goes into its
section under the result table.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import importlib
import importlib.metadata
import importlib.util
import inspect
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

from benchmarks.common import Result, format_table

REPO = Path(__file__).resolve().parent.parent
BENCH_DIR = REPO / "benchmarks"
DOC = REPO / "docs" / "benchmarks.md"
VERSIONED = ("torch", "onnxruntime", "streamlit", "numpy", "onnx", "plotly", "pillow", "playwright")
TIMEOUT_S = {False: 1800, True: 600}  # per benchmark, full / quick
SECTION_RE = re.compile(r"<!-- bench:(?P<name>[\w-]+) -->\n.*?<!-- /bench:(?P=name) -->\n", re.S)
# Figures measured by tests or by hand (failover through nginx, latency breakdowns) live in this block at
# the end of the document; every run keeps it as it is.
NOTES_RE = re.compile(r"<!-- notes -->\n.*?<!-- /notes -->\n", re.S)


@dataclasses.dataclass
class Outcome:
    name: str  # "coldstart" for bench_coldstart.py
    title: str
    results: list[Result]
    error: str = ""
    seconds: float = 0.0
    markdown: str = ""  # from run_with_markdown, shown under the results


def discover(bench_dir: Path = BENCH_DIR) -> list[str]:
    return sorted(p.stem.removeprefix("bench_") for p in bench_dir.glob("bench_*.py"))


def _title(name: str, bench_dir: Path = BENCH_DIR) -> str:
    """The first line of the benchmark's docstring, read without importing it."""
    import ast

    try:
        doc = ast.get_docstring(ast.parse((bench_dir / f"bench_{name}.py").read_text())) or ""
    except (OSError, SyntaxError):
        doc = ""
    return doc.strip().splitlines()[0] if doc.strip() else name


def _import(name: str, bench_dir: Path):
    if bench_dir.resolve() == BENCH_DIR:
        return importlib.import_module(f"benchmarks.bench_{name}")
    spec = importlib.util.spec_from_file_location(f"bench_{name}", bench_dir / f"bench_{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def child(name: str, quick: bool, out_path: str, bench_dir: Path = BENCH_DIR) -> int:
    """In the child process: import one benchmark, run it, write its results (or its error) as JSON."""
    payload: dict = {}
    try:
        module = _import(name, bench_dir)
        run = getattr(module, "run_with_markdown", module.run)
        kwargs = {"quick": True} if quick and "quick" in inspect.signature(run).parameters else {}
        out = run(**kwargs)
        if hasattr(module, "run_with_markdown"):
            out, payload["markdown"] = out
        payload["results"] = [dataclasses.asdict(r) for r in out]
    except BaseException as exc:  # noqa: BLE001 - any failure is reported, not raised
        payload["error"] = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        payload["traceback"] = traceback.format_exc()
    Path(out_path).write_text(json.dumps(payload))
    return 0


def run_one(name: str, quick: bool, bench_dir: Path = BENCH_DIR, timeout_s: float | None = None) -> Outcome:
    """Run one benchmark in a child process; its failure, crash or timeout becomes ``Outcome.error``."""
    t0 = time.monotonic()
    timeout_s = timeout_s or TIMEOUT_S[quick]
    title = _title(name, bench_dir)
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as tmp:
        out_path = tmp.name
    try:
        cmd = [sys.executable, "-m", "benchmarks.run_all", "--child", name, "--child-out", out_path,
               "--bench-dir", str(bench_dir)]
        proc = subprocess.run(cmd + (["--quick"] if quick else []), cwd=REPO, timeout=timeout_s)
        text = Path(out_path).read_text()
        if not text:
            return Outcome(name, title, [], f"the benchmark process exited with code {proc.returncode} "
                                            "without results", time.monotonic() - t0)
        payload = json.loads(text)
        if "error" in payload:
            print(payload.get("traceback", ""), file=sys.stderr)
        results = [Result(**r) for r in payload.get("results", [])]
        return Outcome(name, title, results, payload.get("error", ""), time.monotonic() - t0,
                       payload.get("markdown", ""))
    except subprocess.TimeoutExpired:
        return Outcome(name, title, [], f"timed out after {timeout_s:g} s", time.monotonic() - t0)
    finally:
        Path(out_path).unlink(missing_ok=True)


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def machine() -> dict[str, str]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram = f"{int(line.split()[1]) / 1024 ** 2:.1f} GiB RAM"
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    chromium = ""
    try:
        from benchmarks.harness import chromium_path

        path = chromium_path()
        if path:
            out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30).stdout
            chromium = out.strip().split(" built")[0]
    except Exception:  # noqa: BLE001 - the browser version is a nice-to-have
        pass
    return {"cpu": cpu, "cores": str(cores), "ram": ram, "os": platform.platform(), "chromium": chromium}


def _section(outcome: Outcome, when: str, quick: bool) -> str:
    met = [r for r in outcome.results if r.ok is not None]
    head = (f"## {outcome.name}: {outcome.title}\n\n`benchmarks/bench_{outcome.name}.py` · {when} · "
            f"{'quick' if quick else 'full'} run · {outcome.seconds:.0f} s")
    if outcome.error:
        body = f"**Failed to run**: `{outcome.error.splitlines()[-1][:500]}`"
        if outcome.results:
            body += "\n\n" + format_table(outcome.results)
    else:
        verdict = f"{sum(bool(r.ok) for r in met)} of {len(met)} targets met." if met else "Figures only (no targets)."
        body = f"{verdict}\n\n" + format_table(outcome.results)
    if outcome.markdown:
        body += "\n\n" + outcome.markdown.strip()
    return f"<!-- bench:{outcome.name} -->\n{head}\n\n{body}\n<!-- /bench:{outcome.name} -->\n"


def write_doc(outcomes: list[Outcome], quick: bool, started: str, loads: tuple[float, float],
              names: list[str], path: Path = DOC) -> None:
    kept, notes = {}, ""
    if path.exists():
        text = path.read_text()
        kept = {m.group("name"): m.group(0) for m in SECTION_RE.finditer(text)}
        found = NOTES_RE.search(text)
        notes = found.group(0) if found else ""
    fresh = {o.name: _section(o, started, quick) for o in outcomes}
    m = machine()
    versions = ", ".join([f"Python {platform.python_version()}"] + [f"{d} {_version(d)}" for d in VERSIONED])
    failed = [o.name for o in outcomes if o.error]
    missed = [f"{o.name}: {r.name}" for o in outcomes for r in o.results if r.ok is False]
    lines = [
        "# ConvLab benchmarks",
        "",
        "Written by `python -m benchmarks.run_all` (do not edit by hand). Every figure was measured on the "
        "machine below; targets come from the issues. Re-run after a change that could affect speed or memory.",
        "",
        f"- **Date**: {started}" + (" (quick run)" if quick else "")
        + ("" if set(fresh) >= set(names) else "; only the sections dated so were measured then, the others "
                                               "keep the date of their own run"),
        f"- **Machine**: {m['cpu']}, {m['cores']} cores, {m['ram']}; {m['os']}"
        + (f"; {m['chromium']}" if m["chromium"] else ""),
        f"- **Versions**: {versions}",
        f"- **Load average** (1 min) at start / end: {loads[0]:.1f} / {loads[1]:.1f}"
        " (other work on the machine slows the figures down)",
        f"- **This run**: {', '.join(o.name for o in outcomes) or 'nothing'}"
        + (f"; failed to run: {', '.join(failed)}" if failed else "")
        + (f"; targets missed: {'; '.join(missed)}" if missed else "; every target met"),
        "",
    ]
    for name in names:
        if name in fresh:
            lines.append(fresh[name])
        elif name in kept:
            lines.append(kept[name])
    if notes:
        lines.append(notes)
    path.parent.mkdir(exist_ok=True)
    path.write_text("\n".join(lines).rstrip() + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="quick=True for benchmarks that support it")
    parser.add_argument("--only", help="comma-separated names, e.g. coldstart,load (default: all)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--child-out", help=argparse.SUPPRESS)
    parser.add_argument("--bench-dir", default=str(BENCH_DIR), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args.child, args.quick, args.child_out, Path(args.bench_dir))
    names = discover()
    chosen = names
    if args.only:
        chosen = [n.strip().removeprefix("bench_") for n in args.only.split(",") if n.strip()]
        unknown = [n for n in chosen if n not in names]
        if unknown:
            parser.error(f"no such benchmark: {', '.join(unknown)} (have: {', '.join(names)})")
    started = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    load_start = os.getloadavg()[0]
    outcomes = []
    for name in chosen:
        print(f"\n== {name}", flush=True)
        outcome = run_one(name, args.quick)
        outcomes.append(outcome)
        if outcome.results:
            print(format_table(outcome.results))
        if outcome.markdown:
            print("\n" + outcome.markdown)
        if outcome.error:
            print(f"FAILED: {outcome.error}")
        print(f"({outcome.seconds:.0f} s)", flush=True)
    if not args.no_write:
        write_doc(outcomes, args.quick, started, (load_start, os.getloadavg()[0]), names)
        print(f"\nwrote {DOC.relative_to(REPO)}")
    return 1 if any(o.error for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
