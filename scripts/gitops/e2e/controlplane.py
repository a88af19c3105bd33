"""Throwaway Kubernetes control planes for `nox -s e2e`: one etcd per run, one kube-apiserver per cluster.

Everything runs inside e2e's private network namespace (netns.py), whose only interface is its own
loopback, listens there on ports picked free at start, keeps its data in a temporary folder,
and runs in a process group of its own that is killed when the `with` block ends, whether it ends
normally, on an error or on Ctrl-C (and, on Linux, when this process dies: PR_SET_PDEATHSIG).
There are no controllers: nothing schedules pods, finishes a namespace deletion or imports MCS
exports, so each cluster gets a fresh apiserver over a fresh etcd prefix.
"""
from __future__ import annotations

import secrets
import socket
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from gitops.infra import proc
from gitops.model.errors import ToolError

START_TIMEOUT = 90.0  # a cold apiserver is ready in ~3 s on an idle machine; shared CI machines are slower
LOG_TAIL_LINES = 25
_ports_lock = threading.Lock()
_ports_given: set[int] = set()


class Processes:
    """The servers one run started, so that an interrupted run can stop them all at once, from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: dict[int, subprocess.Popen] = {}

    def start(self, cmd: list[str], what: str, log: Path, env: dict[str, str] | None = None,
              cwd: Path | None = None, private_shm: bool = False) -> subprocess.Popen:
        process = proc.serve(cmd, what=what, log=log, env=env, cwd=cwd, private_shm=private_shm)
        with self._lock:
            self._running[process.pid] = process
        return process

    def stop(self, process: subprocess.Popen) -> None:
        proc.kill(process)
        with self._lock:
            self._running.pop(process.pid, None)

    def stop_all(self) -> None:
        with self._lock:
            running = list(self._running.values())
            self._running.clear()
        for process in running:
            proc.kill(process)

    def pids(self) -> list[int]:
        """The processes still running (their own children are in their process groups)."""
        with self._lock:
            return [p.pid for p in self._running.values() if p.poll() is None]


class StartError(ToolError):
    """A control-plane process did not become ready: exit 2 with the tail of its log."""


def free_port() -> int:
    """A loopback port nothing listens on, never handed out twice in one run (parallel clusters)."""
    with _ports_lock:
        for _ in range(50):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.bind(("127.0.0.1", 0))
                port = sock.getsockname()[1]
            if port not in _ports_given:
                _ports_given.add(port)
                return port
    raise ToolError("no free loopback port")


def log_tail(log: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = log.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


def _opener(context: ssl.SSLContext | None) -> urllib.request.OpenerDirector:
    """Straight to the server: a proxy from the environment is not reachable from the namespace, nor wanted."""
    return urllib.request.build_opener(urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context))


def _wait_ready(what: str, process: subprocess.Popen, log: Path, url: str, context: ssl.SSLContext | None,
                headers: dict[str, str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise StartError(f"{what} exited with code {process.returncode} before it was ready; last lines of "
                             f"{log}:\n{log_tail(log)}")
        try:
            request = urllib.request.Request(url, headers=headers)
            with _opener(context).open(request, timeout=5) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError, ssl.SSLError) as exc:
            last = str(exc)
        time.sleep(0.1)
    raise StartError(f"{what} was not ready within {timeout:g} s ({last}); last lines of {log}:\n{log_tail(log)}")


@dataclass(frozen=True)
class Etcd:
    url: str
    pid: int
    log: Path


@contextmanager
def etcd(binary: Path, workdir: Path, group: Processes) -> Iterator[Etcd]:
    """A single-member etcd on loopback (no fsync: the data is thrown away); yields how to reach it."""
    client, peer = free_port(), free_port()
    data = workdir / "etcd-data"
    log = workdir / "etcd.log"
    url = f"http://127.0.0.1:{client}"
    cmd = [str(binary), "--name=e2e", f"--data-dir={data}", f"--listen-client-urls={url}",
           f"--advertise-client-urls={url}", f"--listen-peer-urls=http://127.0.0.1:{peer}",
           f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}", f"--initial-cluster=e2e=http://127.0.0.1:{peer}",
           "--unsafe-no-fsync", "--log-level=warn", "--quota-backend-bytes=1073741824"]
    process = group.start(cmd, "etcd", log)
    try:
        _wait_ready("etcd", process, log, f"{url}/health", None, {}, START_TIMEOUT)
        yield Etcd(url, process.pid, log)
    finally:
        group.stop(process)


@dataclass(frozen=True)
class ApiServer:
    """How to reach one running kube-apiserver as a cluster administrator."""

    host: str
    ca_file: Path
    token: str
    log: Path
    pid: int

    def client(self) -> Any:
        """An official Python client (kubernetes.client.ApiClient) for this server."""
        from kubernetes import client  # imported here: validate never pays for it

        config = client.Configuration()
        config.host = self.host
        config.ssl_ca_cert = str(self.ca_file)
        config.api_key = {"BearerToken": self.token}
        config.api_key_prefix = {"BearerToken": "Bearer"}
        config.retries = False
        return client.ApiClient(config)


def service_account_key(workdir: Path) -> Path:
    """An EC key pair for the apiserver's required service-account token flags (no tokens are used)."""
    key = workdir / "service-account.key"
    done = proc.run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(key)],
                    what="openssl ecparam", timeout=30)
    if done.returncode != 0:
        raise ToolError(f"openssl could not make a service-account key: {done.stderr.strip()}")
    return key


@dataclass(frozen=True)
class Starting:
    """A kube-apiserver started and not yet known to be ready (`ready` waits for it): a run that needs several starts
    them all, then waits, so they boot side by side."""

    process: subprocess.Popen
    port: int
    token: str
    certs: Path
    log: Path

    def ready(self, timeout: float = START_TIMEOUT) -> ApiServer:
        """How to reach it once /readyz answers; StartError (with its log) when it does not in time."""
        crt = self.certs / "apiserver.crt"
        deadline = time.monotonic() + timeout
        context = None
        while context is None and time.monotonic() < deadline and self.process.poll() is None:
            try:  # the server writes its self-signed certificate first; it may be half written when seen
                context = ssl.create_default_context(cafile=str(crt))
            except (OSError, ssl.SSLError):
                time.sleep(0.05)
        _wait_ready("kube-apiserver", self.process, self.log, f"https://127.0.0.1:{self.port}/readyz", context,
                    {"Authorization": f"Bearer {self.token}"}, max(1.0, deadline - time.monotonic()))
        return ApiServer(f"https://127.0.0.1:{self.port}", crt, self.token, self.log, self.process.pid)


def start_apiserver(binary: Path, etcd_url: str, prefix: str, workdir: Path, sa_key: Path,
                    group: Processes) -> Starting:
    """A kube-apiserver starting on a free loopback port over `etcd_url` under `prefix` (the caller stops it through
    `group`)."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    token = secrets.token_hex(16)
    tokens = workdir / "tokens.csv"
    tokens.write_text(f'{token},e2e-admin,e2e-admin,"system:masters"\n', encoding="utf-8")
    certs = workdir / "certs"
    log = workdir / "kube-apiserver.log"
    cmd = [str(binary), f"--etcd-servers={etcd_url}", f"--etcd-prefix={prefix}", "--bind-address=127.0.0.1",
           f"--secure-port={port}", f"--cert-dir={certs}", f"--token-auth-file={tokens}",
           "--authorization-mode=RBAC", "--service-account-issuer=https://kubernetes.default.svc",
           f"--service-account-key-file={sa_key}", f"--service-account-signing-key-file={sa_key}",
           "--service-cluster-ip-range=10.96.0.0/16", "--disable-admission-plugins=ServiceAccount",
           "--endpoint-reconciler-type=none", "--advertise-address=127.0.0.1", "--profiling=false",
           # Less work that a throwaway server with one client does not need: request fairness queues.
           "--enable-priority-and-fairness=false"]
    return Starting(group.start(cmd, "kube-apiserver", log), port, token, certs, log)


@contextmanager
def apiserver(binary: Path, etcd_url: str, prefix: str, workdir: Path, sa_key: Path,
              group: Processes) -> Iterator[ApiServer]:
    """A kube-apiserver on a free loopback port over `etcd_url` under `prefix`; yields how to reach it."""
    starting = start_apiserver(binary, etcd_url, prefix, workdir, sa_key, group)
    try:
        yield starting.ready()
    finally:
        group.stop(starting.process)


def peak_rss_mib(pid: int) -> float:
    """Peak resident memory of a running process (Linux /proc VmHWM), 0 when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0
