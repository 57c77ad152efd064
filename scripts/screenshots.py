"""Take browser screenshots of ConvLab pages (for the README and for looking at pages as a user).

    python -m scripts.screenshots [--out docs/screenshots] [PATH ...]     # e.g. /arithmetic?k=5

Starts a real server on 127.0.0.1, opens each path in Debian's chromium (playwright), waits until the
script run has finished, and saves one full-page PNG per path.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from benchmarks.harness import CHROMIUM_ARGS, StreamlitServer, chromium_path, wait_for_app_idle

DEFAULT_PATHS = ["/", "/arithmetic"]


def shoot(paths: list[str], out: Path, width: int = 1400, height: int = 2200) -> list[Path]:
    from playwright.sync_api import sync_playwright

    exe = chromium_path()
    if exe is None:
        raise SystemExit("chromium is not installed (apt-get install chromium)")
    out.mkdir(parents=True, exist_ok=True)
    server = StreamlitServer()
    written = []
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": width, "height": height})
            for path in paths:
                page.goto(server.url + path)
                wait_for_app_idle(page, 60_000)
                page.wait_for_timeout(800)  # let plotly finish its first paint
                name = re.sub(r"[^A-Za-z0-9]+", "_", path.strip("/")) or "home"
                target = out / f"{name}.png"
                page.screenshot(path=str(target), full_page=True)
                written.append(target)
            browser.close()
    finally:
        server.stop()
    return written


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", default=DEFAULT_PATHS)
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    args = parser.parse_args(argv)
    for path in shoot(args.paths, args.out):
        print(path)


if __name__ == "__main__":
    main(sys.argv[1:])
