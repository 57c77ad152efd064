"""Debian's nginx in front of ConvLab replicas, running the shipped ``deploy/nginx.conf`` (for tests).

The shipped file is used as it is, except for three things a test must choose: the port nginx listens
on, the replicas' addresses (the ``server`` lines of the upstream) and where the access log goes. Each
substitution must match exactly once, so a change to the shipped file that the test would silently stop
covering fails loudly instead. The generated main configuration adds only what a private, unprivileged
nginx needs: pid file, error log and temp folders in its own prefix directory.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from benchmarks.harness import REPO, _free_port, wait_healthy

SHIPPED_CONF = REPO / "deploy" / "nginx.conf"
NGINX = Path("/usr/sbin/nginx")
ACCESS_RE = re.compile(r'"(?P<request>[^"]*)" (?P<status>\d+) \d+ upstream=(?P<upstream>.*) route=(?P<route>\S+) rt=')


def _sub_once(pattern: str, repl: str, text: str, flags: int = 0) -> str:
    new, n = re.subn(pattern, lambda _: repl, text, flags=flags)
    if n != 1:
        raise ValueError(f"deploy/nginx.conf: expected exactly one match of {pattern!r}, found {n}")
    return new


def render_site(listen_port: int, replicas: list[str], access_log: Path, text: str | None = None) -> str:
    """The shipped site configuration with this test's port, replica addresses and access log."""
    text = SHIPPED_CONF.read_text() if text is None else text
    servers = "".join(f"    server {addr} max_fails=1 fail_timeout=10s;\n" for addr in replicas)
    text = _sub_once(r"^(    server \S+ max_fails=1 fail_timeout=10s;\n)+", servers, text, re.M)
    text = _sub_once(r"^    listen 80;$", f"    listen 127.0.0.1:{listen_port};", text, re.M)
    return _sub_once(r"access_log /var/log/nginx/convlab\.access\.log convlab;",
                     f"access_log {access_log} convlab;", text)


def main_conf(prefix: Path, site: Path) -> str:
    """A complete nginx.conf around the site file; every path lives under ``prefix``."""
    temp = "\n".join(f"    {name}_temp_path {prefix / (name + '_temp')};"
                     for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    return (f"worker_processes 1;\npid {prefix / 'nginx.pid'};\nerror_log {prefix / 'error.log'} info;\n"
            f"events {{ worker_connections 512; }}\n"
            f"http {{\n{temp}\n    include {site};\n}}\n")


@dataclass(frozen=True)
class AccessLine:
    request: str
    status: int
    upstreams: tuple[str, ...]  # every replica nginx tried for this request, in order
    route: str


class Balancer:
    """``nginx -p <tmp> -c <generated> -g 'daemon off;'`` as a child process, on a free 127.0.0.1 port."""

    def __init__(self, replicas: list[str]) -> None:
        self.prefix = Path(tempfile.mkdtemp(prefix="convlab-nginx-"))
        self.prefix.chmod(0o755)  # nginx run as root hands its temp folders to an unprivileged worker
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.access_log = self.prefix / "access.log"
        site = self.prefix / "convlab.conf"
        site.write_text(render_site(self.port, replicas, self.access_log))
        conf = self.prefix / "nginx.conf"
        conf.write_text(main_conf(self.prefix, site))
        # -e: nginx opens its compiled-in error log before reading the configuration (not writable unprivileged)
        args = [str(NGINX), "-p", str(self.prefix), "-e", str(self.prefix / "error.log"), "-c", str(conf)]
        check = subprocess.run([*args, "-t"], capture_output=True, text=True)
        if check.returncode != 0:
            raise RuntimeError(f"nginx -t rejected the configuration:\n{check.stderr}")
        self.proc = subprocess.Popen([*args, "-g", "daemon off;"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        try:
            wait_healthy(self.url, self.proc, 30, "nginx", self.error_log)
        except RuntimeError:
            self.stop()
            raise

    def access_lines(self) -> list[AccessLine]:
        out = []
        for line in self.access_log.read_text(errors="replace").splitlines():
            m = ACCESS_RE.search(line)
            if m:
                ups = tuple(u.strip() for u in re.split(r"[,:]\s", m["upstream"]) if u.strip())
                out.append(AccessLine(m["request"], int(m["status"]), ups, m["route"]))
        return out

    def error_log(self) -> str:
        path = self.prefix / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: nginx's fast shutdown
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
