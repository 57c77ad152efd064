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


K8S = (REPO / "deploy" / "kubernetes.yaml").read_text()
NGINX_SITE = SHIPPED_CONF.read_text()


def _quantity(text: str) -> int:
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30}
    m = re.fullmatch(r"(\d+)(Ki|Mi|Gi)?", text)
    assert m, text
    return int(m[1]) * units.get(m[2] or "", 1)


def test_pod_runs_confined_with_a_read_only_root() -> None:
    assert "seccompProfile: {type: RuntimeDefault}" in K8S
    assert "readOnlyRootFilesystem: true" in K8S and "allowPrivilegeEscalation: false" in K8S
    assert "capabilities: {drop: [ALL]}" in K8S
    # every writable place is a mounted volume with a size: exported models (/tmp) and dataset caches (home)
    mounts = dict(re.findall(r"- \{name: (\w+), mountPath: (\S+)\}", K8S))
    sizes = {name: _quantity(size) for name, size in
             re.findall(r"- name: (\w+)\n\s+emptyDir: \{sizeLimit: (\w+)\}", K8S)}
    assert mounts == {"tmp": "/tmp", "cache": "/home/convlab/.cache"}, mounts
    assert set(sizes) == set(mounts)
    home = re.search(r"useradd .*--uid 10001", DOCKERFILE) and "/home/convlab"
    assert mounts["cache"] == f"{home}/.cache"  # where core.data.mnist.default_cache_dir() puts downloads


def test_ephemeral_storage_covers_the_volumes_and_the_export_quota_fits() -> None:
    request = _quantity(re.search(r"requests: \{[^}]*ephemeral-storage: (\w+)\}", K8S)[1])
    limit = _quantity(re.search(r"limits: \{[^}]*ephemeral-storage: (\w+)\}", K8S)[1])
    sizes = [_quantity(s) for s in re.findall(r"emptyDir: \{sizeLimit: (\w+)\}", K8S)]
    assert request <= limit and sum(sizes) <= limit, (request, limit, sizes)
    env = dict(re.findall(r"- \{name: (CONVLAB_\w+), value: \"([^\"]+)\"\}", K8S))
    tmp = _quantity(re.search(r"- name: tmp\n\s+emptyDir: \{sizeLimit: (\w+)\}", K8S)[1])
    assert float(env["CONVLAB_EXPORT_TOTAL_MB"]) * 2**20 < tmp  # exports fit the volume with room for temp files
    assert float(env["CONVLAB_EXPORT_SESSION_MB"]) <= float(env["CONVLAB_EXPORT_TOTAL_MB"])
    memory = _quantity(re.search(r"limits: \{[^}]*memory: (\w+)", K8S)[1])
    assert float(env["CONVLAB_MEMORY_MARGIN_MB"]) * 2**20 < memory / 2  # the budget keeps most for the work


def test_ingress_serves_tls_and_the_cookie_secret_is_required() -> None:
    assert re.search(r"tls:\n\s+- hosts: \[convlab\.example\.org\]\n\s+secretName: convlab-tls", K8S)
    assert 'ssl-redirect: "true"' in K8S and 'session-cookie-secure: "true"' in K8S
    secret = re.search(r"name: STREAMLIT_SERVER_COOKIE_SECRET\n\s+valueFrom:\n\s+secretKeyRef: \{([^}]*)\}", K8S)[1]
    assert "optional: false" in secret and "optional: true" not in K8S
    assert "limit-rps" in K8S and "limit-connections" in K8S and "frame-ancestors 'self'" in K8S


def test_nginx_site_forbids_framing_and_limits_rates() -> None:
    assert "add_header Content-Security-Policy \"frame-ancestors 'self'\" always;" in NGINX_SITE
    assert "add_header X-Frame-Options SAMEORIGIN always;" in NGINX_SITE
    assert re.search(r"^limit_req_zone \$binary_remote_addr zone=convlab_req:\S+ rate=\d+r/s;", NGINX_SITE, re.M)
    assert re.search(r"^    limit_req zone=convlab_req burst=\d+ nodelay;", NGINX_SITE, re.M)
    assert re.search(r"^    limit_conn convlab_conn \d+;", NGINX_SITE, re.M)
    # add_header inside a location would drop the server's headers there: none may have its own
    for block in re.findall(r"location [^{]+\{([^}]*)\}", NGINX_SITE):
        assert "add_header" not in block


def test_nginx_sends_the_headers_and_answers_429_past_the_burst(tmp_path) -> None:
    """The shipped site in front of a stand-in replica: every answer carries the anti-framing headers,
    and a client asking far faster than the rate gets 429s after its burst."""
    import http.server
    import threading
    import urllib.error
    import urllib.request

    if not NGINX.exists():
        if ON_CI:
            pytest.fail("CI=true but nginx is not installed: .ci/run must install it.")
        pytest.skip("nginx not installed (apt-get install nginx)")
    from tests.balancer import Balancer

    class Ok(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:
            pass

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

    replica = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Ok)
    threading.Thread(target=replica.serve_forever, daemon=True).start()
    balancer = Balancer([f"127.0.0.1:{replica.server_address[1]}"])
    try:
        with urllib.request.urlopen(balancer.url + "/", timeout=5) as resp:
            assert resp.headers["Content-Security-Policy"] == "frame-ancestors 'self'"
            assert resp.headers["X-Frame-Options"] == "SAMEORIGIN"
        statuses: list[int] = []
        while 429 not in statuses and len(statuses) < 3000:  # a client faster than 50/s meets 429 after its burst
            try:
                with urllib.request.urlopen(balancer.url + "/", timeout=5) as resp:
                    statuses.append(resp.status)
            except urllib.error.HTTPError as exc:
                statuses.append(exc.code)
                assert exc.headers["X-Frame-Options"] == "SAMEORIGIN"  # "always": refusals too
        assert statuses.count(200) >= 250 and 429 in statuses, (statuses.count(200), statuses.count(429))
    finally:
        balancer.stop()
        replica.shutdown()
        replica.server_close()
