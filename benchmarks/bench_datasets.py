"""Datasets: converting a full-size CIFAR-10 archive, loading the cached sets, and the Data page's work.

The real archives cannot be downloaded on the build machine, so a full-size CIFAR-10 archive is made
here in the real format (six batches of 10,000 rows, Python-2 pickles, tar.gz) from random pixels and
converted by the same code a download runs (``core.data.cifar.read_archive`` → ``core.data.mnist.write_idx``), in a
child process so its peak memory is its own. Random pixels compress worse than photos, so the archive
is larger than the real 163 MiB; conversion time is dominated by gunzip and copying, as with the real
one. Then: loading the converted training set, the Data page's per-dataset summary at CIFAR-10 size
(``ui.data_views.overview``'s work: class means, pixel statistics, two pictures), and the Data page
itself under AppTest (server CPU per run: first view, then a sample change).

``python -m benchmarks.bench_datasets [--quick]``
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import Result, check, format_table

REPO = Path(__file__).resolve().parent.parent

CONVERT = r"""
import json, resource, sys, time
sys.path.insert(0, {repo!r})
from pathlib import Path
from core.data import cifar
from core.data import mnist as data
from core.data import registry as datasets
archive, out = Path({archive!r}), Path({out!r})
clock = time.process_time  # CPU seconds: stable on a shared, loaded machine (wall times are not)
t0 = clock()
arrays = cifar.read_archive(archive, {rows})
t1 = clock()
for name, array in zip(datasets.CIFAR_NAMES, (arrays.train_images, arrays.train_labels,
                                             arrays.test_images, arrays.test_labels)):
    data.write_idx(out / name, array)
t2 = clock()
del arrays
images = data.read_idx(out / datasets.CIFAR_NAMES[0], datasets.IDX4_MAGIC)
t3 = clock()
print(json.dumps({{"read": t1 - t0, "write": t2 - t1, "load": t3 - t2, "shape": list(images.shape),
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def convert_archive(rows: int) -> list[Result]:
    from benchmarks.fake_datasets import write_cifar_archive

    with tempfile.TemporaryDirectory() as tmp:
        archive, out = Path(tmp) / "cifar-10-python.tar.gz", Path(tmp) / "out"
        write_cifar_archive(archive, rows)
        size_mb = archive.stat().st_size / 1e6
        code = CONVERT.format(repo=str(REPO), archive=str(archive), out=str(out), rows=rows)
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, check=True)
        got = json.loads(proc.stdout.strip().splitlines()[-1])
    note = f"CPU time; {6 * rows:,} rows, archive {size_mb:.0f} MB"
    return [
        check("CIFAR-10 archive → arrays (gunzip, safe unpickle, checks)", got["read"], "s", note=note),
        check("CIFAR-10 arrays → cached IDX files", got["write"], "s", note=note),
        check("load cached CIFAR-10 training set", got["load"], "s", limit=3.0,
              note=f"{got['shape']} uint8 from the uncompressed IDX cache"),
        check("peak memory of the conversion process", got["peak_mb"], "MB", limit=600,
              note=f"{6 * rows:,} rows (the arrays alone are 184 MB at full size)"),
    ]


def overview_work(n: int) -> list[Result]:
    from core.lessons import data_stats
    from ui import data_views as dv

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
    labels = (np.arange(n) % 10).astype(np.uint8)
    t0 = time.process_time()
    means = data_stats.class_means(images, labels, 10)
    data_stats.channel_stats(images)
    dv.labelled_tiles([dv.to_uint8(m) for m in means], [str(c) for c in range(10)])
    dv.labelled_rows([images[labels == c][:8] for c in range(10)], [str(c) for c in range(10)])
    elapsed = time.process_time() - t0
    return [check("Data page summary of a CIFAR-10-sized set (once per dataset and server)", elapsed, "s",
                  limit=3.0, note=f"CPU time; {n:,} colour images: class means, pixel statistics, two pictures")]


PAGE_RUN = r"""
import json, sys, time
sys.path.insert(0, {repo!r})
from benchmarks.harness import apptest_like_a_running_server
apptest_like_a_running_server()
from streamlit.testing.v1 import AppTest
at = AppTest.from_file({app!r}, default_timeout=120)
at.run()
c0 = time.process_time(); at.switch_page("pages/data.py").run(); c1 = time.process_time()
at.number_input(key="data.i").set_value(1).run(); c2 = time.process_time()
at.number_input(key="data.i").set_value(2).run(); c3 = time.process_time()
assert not at.exception
print(json.dumps({{"first": c1 - c0, "change": (c3 - c1) / 2}}))
"""


def page_cpu() -> list[Result]:
    code = PAGE_RUN.format(repo=str(REPO), app=str(REPO / "streamlit_app.py"))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, check=True,
                          cwd=REPO)
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    return [
        check("Data page, first view (shipped digits; includes the dataset summary)", got["first"] * 1e3, "ms",
              note="CPU time of the script run under AppTest"),
        check("Data page, another sample (summary cached)", got["change"] * 1e3, "ms", limit=500,
              note="CPU time per run under AppTest, mean of 2"),
    ]


def run(quick: bool = False) -> list[Result]:
    rows = 2_000 if quick else 10_000
    return convert_archive(rows) + overview_work(5 * rows) + page_cpu()


if __name__ == "__main__":
    print(format_table(run(quick="--quick" in sys.argv)))
