"""The deployment files agree with the repository: what the Dockerfile copies exists and reaches the build,
and the shipped nginx configuration is one nginx accepts (the browser test in test_replicas_browser.py
runs it for real)."""

from __future__ import annotations

import fnmatch
import re
import subprocess

import pytest

from tests.balancer import NGINX, SHIPPED_CONF, main_conf, render_site
from tests.conftest import ON_CI, REPO

DOCKERFILE = (REPO / "Dockerfile").read_text()


def _copy_sources() -> list[str]:
    sources = []
    for line in DOCKERFILE.splitlines():
        if line.startswith("COPY "):
            parts = [p for p in line.split()[1:] if not p.startswith("--")]
            sources += parts[:-1]  # the last one is the destination
    return sources


def _ignored(path: str) -> bool:
    patterns = [p.strip() for p in (REPO / ".dockerignore").read_text().splitlines()
                if p.strip() and not p.startswith("#")]
    path = path.rstrip("/")
    return any(fnmatch.fnmatch(path, pat.rstrip("/")) or path.startswith(pat.rstrip("/") + "/") for pat in patterns)


def test_every_copy_source_exists_and_is_sent_to_the_build() -> None:
    sources = _copy_sources()
    assert {"exported_models/", "data/", "requirements.txt", "requirements-inference.txt"} <= set(sources)
    for src in sources:
        assert (REPO / src).exists(), src
        assert not _ignored(src), f".dockerignore excludes {src}, which the Dockerfile copies"


def test_image_serves_where_its_health_check_and_probes_look() -> None:
    port = re.search(r"--server\.port=(\d+)", DOCKERFILE)[1]
    assert f"EXPOSE {port}" in DOCKERFILE
    assert f"http://127.0.0.1:{port}/_stcore/health" in DOCKERFILE
    k8s = (REPO / "deploy" / "kubernetes.yaml").read_text()
    assert f"containerPort: {port}" in k8s
    assert k8s.count("path: /_stcore/health") == 3  # startup, readiness, liveness
    assert re.search(r"^USER 10001$", DOCKERFILE, re.M) and "runAsUser: 10001" in k8s


def test_both_variants_install_their_requirements() -> None:
    assert re.search(r"full\)[^;]*--index-url \"\$TORCH_INDEX_URL\" \"torch==2\.13\.0\"", DOCKERFILE)
    assert "pip install -r /tmp/requirements/requirements.txt" in DOCKERFILE
    assert "pip install -r /tmp/requirements/requirements-inference.txt" in DOCKERFILE
    pinned = re.search(r"^torch==(\S+)$", (REPO / "requirements.txt").read_text(), re.M)[1]
    assert f'"torch=={pinned}"' in DOCKERFILE  # the image installs the version requirements.txt pins


def test_render_substitutes_exactly_what_the_test_chooses(tmp_path) -> None:
    site = render_site(18080, ["127.0.0.1:9001", "127.0.0.1:9002", "127.0.0.1:9003"], tmp_path / "a.log")
    assert "listen 127.0.0.1:18080;" in site and "listen 80;" not in site
    assert re.findall(r"server (\S+) max_fails", site) == ["127.0.0.1:9001", "127.0.0.1:9002", "127.0.0.1:9003"]
    assert f"access_log {tmp_path / 'a.log'} convlab;" in site
    # Everything else is the shipped file, line for line.
    shipped = SHIPPED_CONF.read_text().splitlines()
    kept = [line for line in shipped if not re.match(r"\s+(listen|server \d|access_log)", line)]
    assert [line for line in site.splitlines() if line in kept] == kept
    with pytest.raises(ValueError, match="exactly one match"):
        render_site(18080, ["127.0.0.1:9001"], tmp_path / "a.log", text=SHIPPED_CONF.read_text().replace("listen 80;", ""))


def test_nginx_accepts_the_shipped_configuration(tmp_path) -> None:
    if not NGINX.exists():
        if ON_CI:
            pytest.fail("CI=true but nginx is not installed: .ci/run must install it.")
        pytest.skip("nginx not installed (apt-get install nginx)")
    site = tmp_path / "convlab.conf"
    site.write_text(render_site(18080, ["127.0.0.1:9001", "127.0.0.1:9002"], tmp_path / "access.log"))
    conf = tmp_path / "nginx.conf"
    conf.write_text(main_conf(tmp_path, site))
    check = subprocess.run([str(NGINX), "-t", "-p", str(tmp_path), "-e", str(tmp_path / "error.log"), "-c", str(conf)],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stderr


def test_shipped_config_keeps_error_details_out_of_the_browser(tmp_path) -> None:
    """An uncaught exception's message and traceback (server paths included) stay in the server log."""
    import tomllib

    from streamlit.testing.v1 import AppTest

    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    assert config["client"]["showErrorDetails"] == "none"
    secret = str(tmp_path / "private" / "model.onnx")
    at = AppTest.from_string(f"raise ValueError({secret!r})").run()  # run from the repository: its config
    assert at.exception, "the page was meant to fail"
    shown = " ".join([at.exception[0].message, *at.exception[0].stack_trace])
    assert secret not in shown and "ValueError" not in shown and "Traceback" not in shown
