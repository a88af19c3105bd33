"""`gitops sync`: the real Argo CD (v3.2.11, tools/argocd) syncs every Argo CD cluster's folder into a throwaway
kube-apiserver, twice, and what its objects say becomes sync-* findings at the line a person edits.

The run (docs/argocd-sync.md): in a private network namespace with only `lo` (e2e/netns.py), one etcd, a host
kube-apiserver holding Argo CD's namespace, CRDs and settings, and one kube-apiserver per Argo CD cluster registered
as a cluster Secret under its inventory name; miniredis; `git daemon` on 127.0.0.1 serving a bare copy of the commit
under test (with the working tree's clusters/ on top); Argo CD's repo-server, application-controller and
applicationset-controller. The bootstrap objects go in as rendered, with only the repository URL pointed at the git
daemon. Then: one Application per Argo CD cluster with that cluster as destination (sync-applications), its
automated sync (sync-refused, sync-failed), a second sync of the same commit and a hard refresh, which must find it
still Synced and re-apply nothing (sync-unstable), and no object Degraded (sync-degraded; Healthy cannot be proven
without nodes). Every process dies with the run: stopped in `finally`, killed with the thread that started it
(PR_SET_PDEATHSIG), and SIGTERM unwinds through proc.interruptible.
"""
from __future__ import annotations

import base64
import json
import os
import re
import secrets
import socket
import subprocess
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import yaml

from gitops.e2e import apply, controlplane, netns, servermsg
from gitops.infra import git, proc, tools
from gitops.model.engines import IN_CLUSTER
from gitops.model import argocd
from gitops.model.errors import GitopsError, ToolError, UsageError
from gitops.model.findings import Finding, SourceLocation, path_text
from gitops.model.inventory import Cluster, Inventory
from gitops.model.resources import Resource
from gitops.model.rules import Rule
from gitops.run import context, inputs, render
from gitops.run.stages import argocd as argocd_stage
from gitops.run.context import Run
from gitops.run.sourcemap import SourceMap
from gitops.sync import rules, status

ARGO_CRDS = ("applications.argoproj.io", "applicationsets.argoproj.io", "appprojects.argoproj.io")
SETTINGS_MAPS = ("argocd-cm", "argocd-rbac-cm", "argocd-cmd-params-cm", "argocd-tls-certs-cm",
                 "argocd-ssh-known-hosts-cm", "argocd-gpg-keys-cm")
COMPONENTS = ("argocd-repo-server", "argocd-application-controller", "argocd-applicationset-controller")
REPOSITORY = "repository.git"
SETTLE = 20.0  # seconds an Application may take to compare Synced after its sync (measured: 2-3 s)
POLL = 0.25
_INVALID_FIELD = re.compile(r"is invalid: ([A-Za-z][\w.\[\]-]*): ")  # kubectl's text of a refusal names the field


class TimeLimit(ToolError):
    """The run did not end within GITOPS_SYNC_TIMEOUT: exit 2 with what it was waiting for."""


@dataclass
class ClusterSync:
    cluster: str
    application: str
    objects: int
    first_sync_seconds: float
    findings: int


@dataclass
class Summary:
    inventory: Inventory
    checked: list[str]
    runs: list[ClusterSync] = field(default_factory=list)
    wall: float = 0.0
    start_seconds: float = 0.0
    peak_mib: float = 0.0
    version: str = tools.ARGOCD.version
    commit: str = ""


class Clock:
    """The run's one deadline: every wait ends by it (TimeLimit), so a hung controller cannot hang the run."""

    def __init__(self, seconds: float) -> None:
        if not seconds > 0:  # NaN too
            raise UsageError(f"GITOPS_SYNC_TIMEOUT must be a number of seconds above 0, not {seconds}")
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    def wait(self, what: str, check: Callable[[], Any], limit: float | None = None,
             alive: Callable[[], str | None] | None = None) -> Any:
        """`check()`'s first true answer, polled; TimeLimit at the deadline (or None after `limit` seconds)."""
        until = self.end if limit is None else min(self.end, time.monotonic() + limit)
        while True:
            got = check()
            if got:
                return got
            dead = alive() if alive is not None else None
            if dead:
                raise ToolError(f"sync: {what}: {dead}")
            if time.monotonic() >= until:
                if limit is not None and until < self.end:
                    return None
                raise TimeLimit(f"sync: {what}: not within GITOPS_SYNC_TIMEOUT ({self.seconds:g} s)")
            time.sleep(POLL)


def _listening(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _exited(process: subprocess.Popen, what: str, log: Path) -> Callable[[], str | None]:
    def check() -> str | None:
        if process.poll() is None:
            return None
        return f"{what} exited with code {process.returncode}; last lines of its log:\n{controlplane.log_tail(log)}"
    return check


def _settings_object(kind: str, name: str, namespace: str, data: dict[str, str]) -> dict[str, Any]:
    """A ConfigMap or Secret Argo CD reads its settings from (its informers select part-of: argocd)."""
    return {"apiVersion": "v1", "kind": kind,
            "metadata": {"name": name, "namespace": namespace, "labels": {"app.kubernetes.io/part-of": "argocd"}},
            ("stringData" if kind == "Secret" else "data"): data}


def cluster_secret(name: str, namespace: str, api: controlplane.ApiServer) -> dict[str, Any]:
    """A destination registered as `argocd cluster add` registers it: a labelled Secret named by the inventory."""
    config = {"bearerToken": api.token,
              "tlsClientConfig": {"caData": base64.b64encode(api.ca_file.read_bytes()).decode()}}
    return {"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": f"cluster-{name}", "namespace": namespace,
                         "labels": {"argocd.argoproj.io/secret-type": "cluster"}},
            "stringData": {"name": name, "server": api.host, "config": json.dumps(config)}}


def pointed(body: dict[str, Any], original: str, served: str) -> dict[str, Any]:
    """A bootstrap object with every repository URL equal to `original` pointed at the git daemon: the only change
    the run makes to what the repository renders."""
    def walk(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        return served if value == original else value
    return walk(body)


def _kubeconfig(path: Path, api: controlplane.ApiServer, namespace: str) -> None:
    """How the three Argo CD processes reach the host (the context's namespace is how each learns its own)."""
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "host",
        "clusters": [{"name": "host", "cluster": {"server": api.host, "certificate-authority": str(api.ca_file)}}],
        "users": [{"name": "admin", "user": {"token": api.token}}],
        "contexts": [{"name": "host", "context": {"cluster": "host", "user": "admin", "namespace": namespace}}]}),
        encoding="utf-8")
    path.chmod(0o600)


def _vm_hwm_mib(pid: int) -> float:
    return controlplane.peak_rss_mib(pid)


class Locator:
    """Where a finding about a live object points: its source line through the source map, else the committed file;
    a finding about the Application itself (no object) points at the cluster's inventory entry."""

    def __init__(self, cluster: str, objects: list[Resource], sources: SourceMap,
                 entry: SourceLocation | None = None) -> None:
        self.cluster = cluster
        self.sources = sources
        self.entry = entry
        self.by_key: dict[tuple[str, str, str, str], Resource] = {}
        self.by_name: dict[tuple[str, str, str], Resource] = {}
        for res in objects:
            self.by_key[(res.group, res.kind, res.namespace, res.name)] = res
            self.by_name.setdefault((res.group, res.kind, res.name), res)

    def find(self, group: str, kind: str, namespace: str, name: str) -> Resource | None:
        return self.by_key.get((group, kind, namespace, name)) or self.by_name.get((group, kind, name))

    def finding(self, rule: Rule, message: str, res: Resource | None, path: tuple[Any, ...] = ()) -> Finding:
        location: SourceLocation | None = None
        if res is not None:
            location = (self.sources.locate(res, path) if path else None) or self.sources.locate(res, ("kind",))
        else:
            location = self.entry
        return Finding(rule.id, rule.severity, message, self.cluster, res.ref if res is not None else None,
                       path_text(path) or None, rule.fix, location)


class ArgoSync:
    """The server stage of `gitops sync` (run.pipeline.sync_plan): the selected Argo CD clusters synced by the real
    Argo CD; every process is stopped when it returns. `log` gets one line per step."""

    def __init__(self, log: Callable[[str], None] = print) -> None:
        self.log = log
        self.started = 0.0

    def preflight(self, run: Run) -> None:
        self.started = time.monotonic()
        if run.inventory.argocd is None or not argocd.argocd_clusters(run.inventory):
            raise UsageError("sync: no cluster in inventory.yaml syncs with Argo CD (sync: argocd): nothing to sync")
        self.selected(run)  # a --clusters mistake is a usage error before anything is built
        netns.check()  # never unisolated: say so before anything is built
        run.kustomize  # noqa: B018 - first use: a build

    def selected(self, run: Run) -> list[Cluster]:
        inv, wanted = run.inventory, run.options.clusters
        engines = {c.name: c.sync for c in inv.clusters}
        if wanted:
            unknown = [n for n in wanted if n not in engines]
            if unknown:
                raise UsageError(f"--clusters: no cluster named {', '.join(unknown)} in inventory.yaml "
                                 f"(known: {', '.join(engines)})")
            other = [n for n in wanted if engines[n] != "argocd"]
            if other:
                raise UsageError(f"--clusters: {', '.join(other)} do(es) not sync with Argo CD: `gitops sync` runs "
                                 "Argo CD only (docs/argocd-sync.md says what is proven for Config Sync)")
        names = set(wanted or argocd.argocd_clusters(inv))
        return [c for c in inv.clusters if c.name in names]

    def check(self, run: Run, built: dict[str, list[Resource]]) -> tuple[list[Finding], Summary]:
        root, inv, log = run.root, run.inventory, self.log
        assert inv.argocd is not None  # preflight
        clusters = self.selected(run)
        names = [c.name for c in clusters]
        clock = Clock(run.settings.sync_timeout)
        summary = Summary(inv, names)
        revision = inv.repository.revision
        if not git.branch_name(revision):
            raise UsageError(f"sync: the inventory's repository.revision {revision!r} is not a branch name; the sync "
                             "run serves the commit under test as that branch")
        # a missing folder is not bad input here: Argo CD then generates no Application (sync-applications)
        applied = inputs.committed(root, inv, names, render.expected_files(inv, built), required=False)
        locks = apply.control_plane_locks(root, clusters)
        # Argo CD runs in the cluster `argocd.cluster` names and reaches it as in-cluster: when that cluster is
        # selected, the host kube-apiserver is that cluster (its minor; no Secret registers it), as in production.
        own = inv.argocd.cluster if inv.argocd.cluster in names else None
        host_minor = inv.cluster(own).kubernetes_version if own is not None else sorted(locks)[-1]
        binaries = apply.ensure_binaries(root, sorted(locks), log)
        argocd_binary = tools.ensure_built(tools.ARGOCD, root, log)
        redis_binary = tools.ensure_own(tools.MINIREDIS, root)
        if redis_binary is None:
            raise ToolError(f"sync needs miniredis ({tools.own_folder(tools.MINIREDIS)}), built with Go: "
                            + tools.GO_FIX.format(folder=tools.tools_dir(root)))
        crd_bodies = apply.all_crds(root, run.options.crd_mirror)
        host_crds = [b for b in crd_bodies if b["metadata"]["name"] in ARGO_CRDS]
        if len(host_crds) != len(ARGO_CRDS):
            raise ToolError(f"sync needs Argo CD's CRDs ({', '.join(ARGO_CRDS)}) in crds.lock.yaml")
        appset, project = argocd_stage.bootstrap_pair(inv)
        namespace = inv.argocd.namespace
        findings: list[Finding] = []
        with ExitStack() as stack:
            stack.enter_context(proc.interruptible())  # SIGTERM: every child killed, every `finally` run
            stack.enter_context(netns.isolated())  # from here on only a private loopback
            work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="gitops-sync-")))
            group = controlplane.Processes()
            stack.callback(group.stop_all)
            peak = stack.enter_context(_Peak(group))
            head, served = git.served_copy(root, work / "git" / REPOSITORY, revision, ("clusters",))
            summary.commit = served
            sa_key = controlplane.service_account_key(work)
            etcd = stack.enter_context(controlplane.etcd(binaries[host_minor][1], work, group))
            starting = {name: controlplane.start_apiserver(
                binaries[minor][0], etcd.url, f"/sync/{i}-{name}", work / f"apiserver-{i}", sa_key, group)
                for i, (name, minor) in enumerate([("(argocd)", host_minor)]
                                                  + [(c.name, c.kubernetes_version) for c in clusters
                                                     if c.name != own])}
            # git daemon and miniredis boot while the apiservers do
            git_port, redis_port = controlplane.free_port(), controlplane.free_port()
            daemon_log, redis_log = work / "git-daemon.log", work / "miniredis.log"
            daemon = group.start(["git", "daemon", "--listen=127.0.0.1", f"--port={git_port}",
                                  f"--base-path={work / 'git'}", "--export-all", "--reuseaddr",
                                  "--informative-errors", str(work / "git")], "git daemon", daemon_log,
                                 env=self._env(work), cwd=work)
            redis = group.start([str(redis_binary), f"-addr=127.0.0.1:{redis_port}"], "miniredis", redis_log)
            apis = {name: s.ready(min(controlplane.START_TIMEOUT, max(1.0, clock.end - time.monotonic())))
                    for name, s in starting.items()}
            host_api = apis.pop("(argocd)")
            if own is not None:
                apis[own] = host_api
            servers = {n: IN_CLUSTER if n == own else a.host for n, a in apis.items()}
            summary.start_seconds = time.monotonic() - self.started
            host = apply.Server(host_api, work / "apiserver-0")
            stack.callback(host.close)
            dests = {name: apply.Server(api, work / f"dest-{name}") for name, api in apis.items()}
            for server in dests.values():
                stack.callback(server.close)
            for name in dests:
                (work / f"dest-{name}").mkdir()

            def crds_for(cluster: str) -> None:
                apply.install_crds(dests[cluster], apply.needed_crds(crd_bodies, applied[cluster]), cluster)

            pool = stack.enter_context(ThreadPoolExecutor(max_workers=2, thread_name_prefix="sync"))
            pending = [pool.submit(crds_for, name) for name in dests]
            host.apply(apply.namespace_object(namespace), dry_run=False)
            apply.install_crds(host, host_crds, "(argocd)")
            for name in SETTINGS_MAPS:
                self._must(host.apply(_settings_object("ConfigMap", name, namespace, {}), dry_run=False), name)
            self._must(host.apply(_settings_object("Secret", "argocd-secret", namespace,
                                                   {"server.secretkey": secrets.token_hex(16)}), dry_run=False),
                       "argocd-secret")
            for name, api in apis.items():
                if name != own:
                    self._must(host.apply(cluster_secret(name, namespace, api), dry_run=False), f"cluster {name}")
            for future in pending:
                future.result()
            clock.wait("git daemon", lambda: _listening(git_port), 60, _exited(daemon, "git daemon", daemon_log))
            clock.wait("miniredis", lambda: _listening(redis_port), 60, _exited(redis, "miniredis", redis_log))
            self._argocd(work, argocd_binary, host_api, namespace, redis_port, group, clock)
            url = f"git://127.0.0.1:{git_port}/{REPOSITORY}"
            original = inv.repository.url
            self._must(host.apply(pointed(project.body, original, url), dry_run=False), "the AppProject")
            self._must(host.apply(pointed(appset.body, original, url), dry_run=False), "the ApplicationSet")
            booted = time.monotonic()
            log(f"sync: Argo CD {tools.ARGOCD.version} up in {booted - self.started:.1f} s, serving "
                f"{served[:12]} (HEAD {head[:12]}{'' if served == head else ' + working tree clusters/'})")
            sources = context.source_map(root, inv, run.kustomize, built)
            apps = self._applications(host, appset, namespace, clusters, servers, inv, clock, findings, sources)
            jobs = []
            for c in clusters:
                app = next((a for a in apps if a.get("spec", {}).get("source", {}).get("path") == argocd.folder(c.name)
                            and status.application(a, servers).cluster == c.name), None)
                if app is not None:
                    jobs.append((c, app))
            locators = {c.name: Locator(c.name, applied[c.name], context.source_map(root, inv, run.kustomize, built),
                                        SourceLocation("inventory.yaml", c.line))
                        for c, _ in jobs}

            def one(job: tuple[Cluster, dict[str, Any]]) -> tuple[list[Finding], ClusterSync]:
                c, app = job
                try:
                    return self._cluster(host, dests[c.name], app, namespace, locators[c.name], applied[c.name],
                                         clock, booted)
                except (GitopsError, KeyboardInterrupt):
                    raise
                except Exception as exc:  # the client's own failures: exit 2, no traceback
                    raise ToolError(f"sync: cluster {c.name}: {exc.__class__.__name__}: {str(exc)[:500]}") from None

            for found, done in pool.map(one, jobs):
                findings += found
                summary.runs.append(done)
                log(f"sync: {done.cluster}: Application {done.application}, {done.objects} objects, "
                    f"{done.findings} finding(s), first sync {done.first_sync_seconds:.1f} s after the ApplicationSet")
            summary.peak_mib = peak.mib()
        summary.wall = time.monotonic() - self.started
        findings.sort(key=Finding.sort_key)
        return findings, summary

    # --- steps --------------------------------------------------------------------------------------------

    @staticmethod
    def _must(outcome: apply.Outcome, what: str) -> None:
        if not outcome.ok:
            raise ToolError(f"sync: the host kube-apiserver refused {what}: {outcome.body.get('message')}")

    @staticmethod
    def _env(work: Path, **extra: str) -> dict[str, str]:
        """A clean environment: no proxy, no credential, no git configuration of the user's."""
        home = work / "home"
        home.mkdir(exist_ok=True)
        (work / "tmp").mkdir(exist_ok=True)
        return {"PATH": f"{work / 'bin'}:{os.environ.get('PATH', os.defpath)}", "HOME": str(home),
                "TMPDIR": str(work / "tmp"), "GIT_CONFIG_NOSYSTEM": "1", "LANG": "C.UTF-8", **extra}

    def _argocd(self, work: Path, binary: Path, host: controlplane.ApiServer, namespace: str, redis_port: int,
                group: controlplane.Processes, clock: Clock) -> None:
        """repo-server, application-controller, applicationset-controller: one binary named three ways."""
        links = work / "bin"
        links.mkdir(exist_ok=True)
        for component in COMPONENTS:
            (links / component).symlink_to(binary)
        kubeconfig = work / "kubeconfig"
        _kubeconfig(kubeconfig, host, namespace)
        env = self._env(work, KUBECONFIG=str(kubeconfig), ARGOCD_FAKE_IN_CLUSTER="true", ARGOCD_GPG_ENABLED="false")
        redis = f"127.0.0.1:{redis_port}"
        repo_port, repo_metrics, ctrl_metrics = (controlplane.free_port() for _ in range(3))
        aset_metrics, aset_probe, aset_hook = (controlplane.free_port() for _ in range(3))
        logs = {c: work / f"{c}.log" for c in COMPONENTS}
        repo = group.start([str(links / COMPONENTS[0]), "--address=127.0.0.1", f"--port={repo_port}",
                            "--metrics-address=127.0.0.1", f"--metrics-port={repo_metrics}", "--disable-tls",
                            f"--redis={redis}", "--loglevel=warn"], COMPONENTS[0], logs[COMPONENTS[0]],
                           env=env, cwd=work)
        # The controller writes each manifest to /dev/shm for its kubectl apply: a private, empty one (proc).
        controller = group.start([str(links / COMPONENTS[1]), f"--kubeconfig={kubeconfig}",
                                  f"--repo-server=127.0.0.1:{repo_port}", "--repo-server-plaintext", f"--redis={redis}",
                                  f"--metrics-port={ctrl_metrics}", "--loglevel=warn", "--status-processors=4",
                                  "--operation-processors=2", "--app-resync=180", "--persist-resource-health=true"],
                                 COMPONENTS[1], logs[COMPONENTS[1]], env=env, cwd=work, private_shm=True)
        appsets = group.start([str(links / COMPONENTS[2]), f"--argocd-repo-server=127.0.0.1:{repo_port}",
                               "--repo-server-plaintext", f"--metrics-addr=127.0.0.1:{aset_metrics}",
                               f"--probe-addr=127.0.0.1:{aset_probe}", f"--webhook-addr=127.0.0.1:{aset_hook}",
                               "--loglevel=info", "--enable-scm-providers=false"], COMPONENTS[2], logs[COMPONENTS[2]],
                              env=env, cwd=work)
        clock.wait("the repo-server", lambda: _listening(repo_port), 120,
                   _exited(repo, COMPONENTS[0], logs[COMPONENTS[0]]))
        clock.wait("the application-controller", lambda: _listening(ctrl_metrics), 120,
                   _exited(controller, COMPONENTS[1], logs[COMPONENTS[1]]))
        # Its probe server registers no check (404): readiness is the log line of its workers.
        clock.wait("the applicationset-controller", lambda: b'"msg":"Starting workers"' in logs[COMPONENTS[2]]
                   .read_bytes(), 120, _exited(appsets, COMPONENTS[2], logs[COMPONENTS[2]]))

    def _applications(self, host: apply.Server, appset: Resource, namespace: str, clusters: list[Cluster],
                      servers: dict[str, str], inv: Inventory, clock: Clock,
                      findings: list[Finding], sources: SourceMap) -> list[dict[str, Any]]:
        """The Applications the applicationset-controller generates, compared with the inventory (sync-applications,
        at the ApplicationSet or the cluster's inventory entry)."""
        name = appset.name
        live = clock.wait("the applicationset-controller's answer", lambda: status.reconciled(
            host.get("argoproj.io/v1alpha1", "ApplicationSet", name, namespace) or {}) and
            host.get("argoproj.io/v1alpha1", "ApplicationSet", name, namespace))
        apps = host.list_objects("argoproj.io/v1alpha1", "Application", namespace)
        model = [status.application(a, servers) for a in apps]
        rule = rules.SYNC_APPLICATIONS
        for found in argocd.mismatches(inv, model, status.generation_error(live), [c.name for c in clusters]):
            if found.cluster is not None:
                location = SourceLocation("inventory.yaml", inv.cluster(found.cluster).line)
                findings.append(Finding(rule.id, rule.severity, found.message, found.cluster, None, None, rule.fix,
                                        location))
            else:
                findings.append(Finding(rule.id, rule.severity, found.message, None, appset.ref, "spec.generators",
                                        rule.fix, sources.locate(appset, ("spec", "generators"))))
        return apps

    def _cluster(self, host: apply.Server, dest: apply.Server, app: dict[str, Any], namespace: str,
                 where: Locator, objects: list[Resource], clock: Clock, booted: float) -> tuple[list[Finding], ClusterSync]:
        """One Application: its automated sync's verdict, a second sync, a hard refresh, the health of its objects."""
        name = app["metadata"]["name"]
        out: list[Finding] = []
        seen: set[tuple[str, str, str]] = set()

        def add(rule: Rule, message: str, res: Resource | None, path: tuple[Any, ...] = ()) -> None:
            key = (rule.id, str(res.ref) if res else "", message)
            if key not in seen:
                seen.add(key)
                out.append(where.finding(rule, message, res, path))

        def get() -> dict[str, Any]:
            return host.get("argoproj.io/v1alpha1", "Application", name, namespace) or {}

        def first() -> dict[str, Any] | None:
            a = get()
            if status.operation(a) and status.finished(a):
                return a
            if status.conditions(a, "InvalidSpecError") or status.conditions(a, "ComparisonError"):
                return a
            return None

        a = clock.wait(f"the first sync of Application {name}", first)
        first_seconds = time.monotonic() - booted
        cluster = where.cluster
        for message in status.conditions(a, "InvalidSpecError") + status.conditions(a, "ComparisonError"):
            add(rules.SYNC_REFUSED, f"Argo CD does not sync Application {name} into cluster {cluster}: {message}", None)
        for r in status.refused(a):
            add(rules.SYNC_REFUSED, f"Argo CD refuses {r.kind} {r.namespace + '/' if r.namespace else ''}{r.name} in "
                f"cluster {cluster}: {status.clean(r.message)}", where.find(r.group, r.kind, r.namespace, r.name))
        for r in status.failed(a):
            res = where.find(r.group, r.kind, r.namespace, r.name)
            text = status.clean(r.message)
            # the API server's refusal names the field ("metadata.labels: Invalid value: ..."), as in e2e
            named = _INVALID_FIELD.search(text)
            path = servermsg.field_path(named.group(1) if named else None, text, res.body) if res is not None else ()
            add(rules.SYNC_FAILED, f"Argo CD's sync of {r.kind} {r.namespace + '/' if r.namespace else ''}{r.name} "
                f"into cluster {cluster} failed: {text}", res, path)
        broken = status.operation_failed(a)
        if broken and not out:
            add(rules.SYNC_FAILED, f"Argo CD's sync of Application {name} into cluster {cluster} failed: {broken}",
                None)
        if not out:
            settled = clock.wait(f"Application {name} Synced", lambda: (x := get()) and
                                 status.sync_status(x) == "Synced" and x, SETTLE)
            self._unstable(settled or get(), "after its sync", dest, where, add)
            again = self._sync_again(host, name, namespace, get, clock)
            for r in status.reapplied(again):
                self._reapplied(r, cluster, dest, where, add)
            if status.operation_failed(again):
                add(rules.SYNC_UNSTABLE, f"a second sync of the same commit into cluster {cluster} failed: "
                    f"{status.operation_failed(again)}", None)
            self._refresh(host, name, namespace, get, clock)
            refreshed = clock.wait(f"Application {name} Synced after a hard refresh", lambda: (x := get()) and
                                   status.sync_status(x) == "Synced" and x, 5.0)
            self._unstable(refreshed or get(), "after a hard refresh", dest, where, add)
            for entry, message in status.degraded(get()):
                res = where.find(str(entry.get("group") or ""), str(entry.get("kind") or ""),
                                 str(entry.get("namespace") or ""), str(entry.get("name") or ""))
                add(rules.SYNC_DEGRADED, f"Argo CD finds {entry.get('kind')} {entry.get('name')} in cluster {cluster} "
                    f"Degraded: {message}", res)
        return out, ClusterSync(cluster, name, len(objects), first_seconds, len(out))

    def _unstable(self, app: dict[str, Any], when: str, dest: apply.Server, where: Locator,
                  add: Callable[..., None]) -> None:
        if status.sync_status(app) == "Synced":
            return
        for entry in status.out_of_sync(app):
            kind, name = str(entry.get("kind") or ""), str(entry.get("name") or "")
            res = where.find(str(entry.get("group") or ""), kind, str(entry.get("namespace") or ""), name)
            fields = self._defaulted(res, dest)
            path = fields[0][0][:-1] if fields else ()
            add(rules.SYNC_UNSTABLE, f"Argo CD finds {kind} {name} in cluster {where.cluster} OutOfSync {when} "
                f"(a self-heal loop){self._fields_text(fields)}", res, path)

    def _reapplied(self, r: status.Result, cluster: str, dest: apply.Server, where: Locator,
                   add: Callable[..., None]) -> None:
        res = where.find(r.group, r.kind, r.namespace, r.name)
        fields = self._defaulted(res, dest)
        path = fields[0][0][:-1] if fields else ()
        add(rules.SYNC_UNSTABLE, f"a second sync of the same commit re-applied {r.kind} {r.name} in cluster {cluster} "
            f"(\"{status.clean(r.message)}\"): it is applied again on every sync{self._fields_text(fields)}", res, path)

    @staticmethod
    def _defaulted(res: Resource | None, dest: apply.Server) -> list[tuple[tuple[Any, ...], Any]]:
        if res is None:
            return []
        stored = dest.get(res.api_version, res.kind, res.name, res.namespace or None)
        return status.defaulted(res.body, stored) if stored else []

    @staticmethod
    def _fields_text(fields: list[tuple[tuple[Any, ...], Any]]) -> str:
        if not fields:
            return ""
        shown = ", ".join(f"{path_text(p)}: {json.dumps(v)}" for p, v in fields[:8])
        return (f"; the API server stores fields the folder leaves out inside list items, which the apply replaces "
                f"as a whole: {shown}{' ...' if len(fields) > 8 else ''}")

    @staticmethod
    def _sync_again(host: apply.Server, name: str, namespace: str, get: Callable[[], dict[str, Any]],
                    clock: Clock) -> dict[str, Any]:
        """What `argocd app sync` does: an operation on the Application, at the revision it is synced to."""
        app = get()
        marker = secrets.token_hex(6)
        spec = app.get("spec") or {}
        operation = {"initiatedBy": {"username": "gitops-sync"}, "info": [{"name": status.MARKER, "value": marker}],
                     "sync": {"revision": status.revision(app) or spec.get("source", {}).get("targetRevision", ""),
                              "prune": True,
                              "syncOptions": (spec.get("syncPolicy") or {}).get("syncOptions") or []}}
        host.merge("argoproj.io/v1alpha1", "Application", name, namespace, {"operation": operation})
        return clock.wait(f"the second sync of Application {name}",
                          lambda: (a := get()) and status.ours(a, marker) and status.finished(a) and a)

    @staticmethod
    def _refresh(host: apply.Server, name: str, namespace: str, get: Callable[[], dict[str, Any]],
                 clock: Clock) -> None:
        """A hard refresh (the annotation `argocd app get --hard-refresh` sets): answered when the controller
        removes it."""
        key = "argocd.argoproj.io/refresh"
        host.merge("argoproj.io/v1alpha1", "Application", name, namespace, {"metadata": {"annotations": {key: "hard"}}})
        clock.wait(f"the hard refresh of Application {name}",
                   lambda: key not in ((get().get("metadata") or {}).get("annotations") or {}))


class _Peak:
    """The summed peak resident memory (VmHWM) of the run's processes, read before they stop."""

    def __init__(self, group: controlplane.Processes) -> None:
        self.group = group
        self.value = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="sync-peak", daemon=True)

    def __enter__(self) -> _Peak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while not self._stop.wait(0.5):
            self.value = max(self.value, sum(_vm_hwm_mib(pid) for pid in self.group.pids()))

    def mib(self) -> float:
        self.value = max(self.value, sum(_vm_hwm_mib(pid) for pid in self.group.pids()))
        return self.value


def summary_lines(summary: Summary) -> list[str]:
    """What the command prints on stderr after its report."""
    if summary is None:
        return []
    return [f"sync target: {len(summary.checked)} Argo CD cluster(s) ({', '.join(summary.checked)}) with Argo CD "
            f"{summary.version}, commit {summary.commit[:12]}; {summary.wall:.1f} s wall (processes ready in "
            f"{summary.start_seconds:.1f} s), peak memory of its processes {summary.peak_mib:.0f} MiB (sum of VmHWM); "
            "health: \"not Degraded\" is what a cluster without nodes proves, never Healthy"]
