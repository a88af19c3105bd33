"""`nox -s e2e` against a real etcd + kube-apiserver (built on first use into .tools/bin; never skipped).

Each test starts one etcd and one apiserver per cluster it checks, so the module keeps the number
of runs small: the repository as committed, one copy with the three refusals the schemas miss,
one upgrade from a committed base, a hand edit of a committed folder, and a folder that registers
webhooks at an address on the machine's loopback, which must receive no connection.
"""
from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from datetime import date, timedelta
from pathlib import Path

import pytest

from conftest import PROJECT, edit, snippet_line
from gitops import cli
from gitops.e2e import apply as e2e
from gitops.model.findings import Finding, Severity

pytestmark = pytest.mark.slow  # control planes: etcd and kube-apiservers

BAD_LABEL = ("base/caller/deployment.yaml", "  labels:\n    app: sample-caller\n    version: v1\nspec:",
             "  labels:\n    app: sample-caller\n    version: -bad-\nspec:")
BAD_PATH = ("overlays/cluster-1/httproute.yaml", "            value: /\n", "            value: ui//x\n")
TWICE = ("base/caller/service.yaml", "      targetPort: http\n",
         "      targetPort: http\n    - name: http-again\n      protocol: TCP\n      port: 8080\n      targetPort: http\n")


def _where(f: Finding) -> tuple[str, int] | None:
    return (f.location.path, f.location.line) if f.location else None


def test_repository_applies_clean_and_idempotently(capsys) -> None:
    """Every cluster folder and the bootstrap objects pass dry-run, a real apply and a second apply that
    changes no resourceVersion (a change would be a server-drift finding)."""
    code = cli.main(["--root", str(PROJECT), "e2e", "--format", "json"])
    captured = capsys.readouterr()
    assert code == 0, captured.out + captured.err
    report = json.loads(captured.out)
    assert report["findings"] == []
    for cluster in ("cluster-1", "cluster-2"):
        assert f"e2e: {cluster}: " in captured.err
    assert "e2e target: 2 cluster(s)" in captured.err


ENDPOINTS = """apiVersion: v1
kind: Endpoints
metadata:
  name: legacy
  namespace: istio-apps
subsets: []
"""


def test_three_refusals_reported_at_their_source_lines(repo: Path, capsys) -> None:
    for rel, old, new in (BAD_LABEL, BAD_PATH, TWICE):
        edit(repo, rel, old, new)
    # And a warning in the same run: v1 Endpoints is deprecated from Kubernetes 1.33 on.
    (repo / "overlays/cluster-1/endpoints.yaml").write_text(ENDPOINTS)
    edit(repo, "overlays/cluster-1/kustomization.yaml", "  - httproute.yaml\n", "  - httproute.yaml\n  - endpoints.yaml\n")
    assert cli.main(["--root", str(repo), "render"]) == 0  # e2e applies the committed folders
    result = e2e.run(repo, e2e.Options(clusters=["cluster-1"]), log=lambda line: None)
    warned = [f for f in result.findings if f.rule == "server-warning"]
    assert [(f.obj.kind if f.obj else None, f.severity, _where(f)) for f in warned] == [
        ("Endpoints", Severity.WARNING, ("overlays/cluster-1/endpoints.yaml", 1))], warned
    assert "deprecated" in warned[0].message
    rejects = [f for f in result.findings if f.rule == "server-rejects"]
    assert all(f.severity is Severity.ERROR and f.cluster == "cluster-1" for f in rejects)

    def one(kind: str, text: str) -> Finding:
        hits = [f for f in rejects if f.obj and f.obj.kind == kind and text in f.message]
        assert hits, "\n".join(f"{f.where()}: {f.message}" for f in result.findings)
        return hits[0]

    label = one("Deployment", '"-bad-"')
    assert _where(label) == ("base/caller/deployment.yaml", snippet_line(repo, BAD_LABEL[0], "    version: -bad-"))
    route = one("HTTPRoute", "//")
    assert _where(route) == ("overlays/cluster-1/httproute.yaml",
                             snippet_line(repo, BAD_PATH[0], "        - path:"))
    twice = one("Service", "8080")
    assert _where(twice) == ("base/caller/service.yaml", snippet_line(repo, TWICE[0], "    - name: http-again"))
    assert {f.obj.kind for f in rejects if f.obj} == {"Deployment", "HTTPRoute", "Service"}


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True)


def test_immutable_selector_change_against_a_base_revision(repo: Path, capsys) -> None:
    assert cli.main(["--root", str(repo), "render"]) == 0
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "-A")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "base")
    edit(repo, "base/producer/deployment.yaml", "  selector:\n    matchLabels:\n      app: sample-producer\n      version: v1\n",
         "  selector:\n    matchLabels:\n      app: sample-producer\n")
    edit(repo, "overlays/cluster-2/kustomization.yaml", "components:\n  - ../../components/export-gke\n", "")
    assert cli.main(["--root", str(repo), "render"]) == 0
    capsys.readouterr()
    code = cli.main(["--root", str(repo), "e2e", "--base", "HEAD", "--clusters", "cluster-2", "--format", "json"])
    out = capsys.readouterr().out
    assert code == 1, out
    findings = json.loads(out)["findings"]
    immutable = [f for f in findings if f["rule"] == "server-immutable"]
    assert immutable, out
    assert (immutable[0]["object"]["kind"], immutable[0]["object"]["name"]) == ("Deployment", "sample-producer-v1")
    assert "immutable" in immutable[0]["message"]
    line = snippet_line(repo, "base/producer/deployment.yaml", "spec:\n  replicas: 1\n  selector:")
    assert (immutable[0]["location"]["path"], immutable[0]["location"]["line"]) == ("base/producer/deployment.yaml", line)
    pruned = [f for f in findings if f["rule"] == "server-pruned"]
    assert [(f["object"]["kind"], f["object"]["name"]) for f in pruned] == [("ServiceExport", "sample-producer")], out
    assert "pruned by the sync engine" in pruned[0]["message"]


def test_a_control_plane_that_cannot_start_exits_2_with_its_log(monkeypatch, capsys) -> None:
    real = e2e.ensure_binaries

    def broken_etcd(root, minors, log):  # type: ignore[no-untyped-def]
        return {minor: (apiserver, Path("/bin/false")) for minor, (apiserver, _) in real(root, minors, log).items()}

    monkeypatch.setattr(e2e, "ensure_binaries", broken_etcd)
    assert cli.main(["--root", str(PROJECT), "e2e", "--clusters", "cluster-2"]) == 2
    err = capsys.readouterr().err
    assert "etcd exited with code 1 before it was ready" in err
    assert "last lines of" in err


def test_cluster_selection(repo: Path, capsys) -> None:
    assert cli.main(["--root", str(repo), "e2e", "--clusters", "cluster-9"]) == 2
    assert "--clusters: no cluster named cluster-9" in capsys.readouterr().err
    assert cli.main(["--root", str(repo), "e2e", "--clusters", "cluster-1", "--changed-since", "HEAD"]) == 2
    assert cli.main(["--root", str(repo), "render"]) == 0  # committed clusters/: a clean tree selects nothing
    capsys.readouterr()
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "-A")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "base")
    code = cli.main(["--root", str(repo), "e2e", "--changed-since", "HEAD", "--format", "json"])
    captured = capsys.readouterr()
    assert code == 0 and json.loads(captured.out)["summary"]["clusters"] == [], captured
    assert "no cluster selected" in captured.err
    edit(repo, "overlays/cluster-2/kustomization.yaml", "components:\n", "components: # edited\n")
    inv, _ = e2e.pipeline.build(repo)
    chosen = e2e._selected(repo, inv, e2e.Options(changed_since="HEAD"))
    assert [c.name for c in chosen] == ["cluster-2"]


SOON = (date.today() + timedelta(days=30)).isoformat()  # within the waivers' longest lifetime
SERVER_WAIVER = f"""- rule: server-rejects
  target:
    object: "Deployment/istio-apps/sample-caller-v1"
  reason: "Label fixed with TICKET-1."
  expires: {SOON}
"""
VALIDATE_WAIVER = f"""- rule: image-pinned
  target:
    cluster: "cluster-1"
  reason: "A validate rule's waiver: e2e must not call it unused."
  expires: {SOON}
"""


def _json_run(argv: list[str], capsys) -> tuple[int, list[dict]]:
    code = cli.main(argv)
    return code, json.loads(capsys.readouterr().out)["findings"]


def test_waivers_cover_server_findings_and_each_command_applies_only_its_own(repo: Path, capsys) -> None:
    (repo / "policies/waivers.yaml").write_text(SERVER_WAIVER)
    assert cli.main(["render", "--root", str(repo)]) == 0
    capsys.readouterr()
    # validate does not check server-* rules, so it neither applies their waivers nor calls them unused.
    code, found = _json_run(["validate", "--root", str(repo), "--format", "json"], capsys)
    assert (code, found) == (0, []), found

    edit(repo, *BAD_LABEL)
    assert cli.main(["render", "--root", str(repo)]) == 0
    capsys.readouterr()
    (repo / "policies/waivers.yaml").write_text(SERVER_WAIVER + VALIDATE_WAIVER)
    code, found = _json_run(["e2e", "--root", str(repo), "--clusters", "cluster-1", "--format", "json"], capsys)
    rejects = [f for f in found if f["rule"] == "server-rejects"]
    assert [f["object"]["kind"] for f in rejects] == ["Deployment"] and '"-bad-"' in rejects[0]["message"]
    assert rejects[0]["waived"] == "Label fixed with TICKET-1."
    assert not [f for f in found if f["rule"].startswith("waiver-")], found  # image-pinned's waiver is validate's
    assert code == 0  # the one refusal is waived

    (repo / "policies/waivers.yaml").write_text(SERVER_WAIVER.replace(SOON, "2020-01-01"))
    code, found = _json_run(["e2e", "--root", str(repo), "--clusters", "cluster-1", "--format", "json"], capsys)
    assert code == 1
    assert [f["rule"] for f in found if f["rule"].startswith("waiver-")] == ["waiver-expired"]
    assert [f["waived"] for f in found if f["rule"] == "server-rejects"] == [None]


# --- what the sync engines apply -----------------------------------------------------------------------

def test_a_hand_edit_of_a_committed_folder_is_what_e2e_applies(repo: Path, capsys) -> None:
    """Argo CD and Config Sync apply clusters/, not the overlays: a hand edit there is applied, and its refusal
    points at the committed file's line (issue 19, item 4)."""
    assert cli.main(["--root", str(repo), "render"]) == 0
    rel = "clusters/cluster-1/istio-apps/deployment-sample-caller-v1.yaml"
    edit(repo, rel, "  labels:\n    app: sample-caller\n    version: v1\n  name:",
         "  labels:\n    app: sample-caller\n    version: -hand-\n  name:")
    capsys.readouterr()
    code = cli.main(["--root", str(repo), "e2e", "--clusters", "cluster-1", "--format", "json"])
    out = capsys.readouterr().out
    assert code == 1, out
    rejects = [f for f in json.loads(out)["findings"] if f["rule"] == "server-rejects"]
    assert [(f["object"]["kind"], f["location"]["path"], f["location"]["line"]) for f in rejects] == [
        ("Deployment", rel, snippet_line(repo, rel, "    version: -hand-"))], out
    assert '"-hand-"' in rejects[0]["message"]


def test_a_cluster_without_its_committed_folder_is_bad_input(repo: Path, capsys) -> None:
    assert cli.main(["--root", str(repo), "e2e", "--clusters", "cluster-2"]) == 2
    assert "clusters/cluster-2/ does not exist, so its sync engine applies nothing" in capsys.readouterr().err


# --- nothing leaves the control plane's loopback ---------------------------------------------------------

class _Listener:
    """A TCP server on the machine's own 127.0.0.1 (outside e2e's namespace) that counts connections."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections: list[tuple[str, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, peer = self.sock.accept()
            except OSError:
                continue
            self.connections.append(peer)
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


CALLING_OUT = """apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata:
  name: audit-everything
webhooks:
  - name: audit.example.com
    clientConfig:
      url: https://127.0.0.1:{port}/validate
    rules:
      - apiGroups: ["*"]
        apiVersions: ["*"]
        operations: ["CREATE", "UPDATE"]
        resources: ["*"]
    failurePolicy: Fail
    sideEffects: None
    admissionReviewVersions: ["v1"]
    timeoutSeconds: 2
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {{kind: Widget, plural: widgets, singular: widget, listKind: WidgetList}}
  conversion:
    strategy: Webhook
    webhook:
      conversionReviewVersions: ["v1"]
      clientConfig:
        url: https://127.0.0.1:{port}/convert
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema: {{type: object, properties: {{spec: {{type: object, properties: {{size: {{type: integer}}}}}}}}}}
    - name: v1beta1
      served: true
      storage: false
      schema:
        openAPIV3Schema: {{type: object, properties: {{spec: {{type: object, properties: {{size: {{type: integer}}}}}}}}}}
---
apiVersion: example.com/v1beta1
kind: Widget
metadata:
  name: small
  namespace: istio-apps
spec:
  size: 1
---
apiVersion: v1
kind: Service
metadata:
  name: aggregated
  namespace: istio-apps
spec:
  type: ExternalName
  externalName: localhost
  ports:
    - name: https
      port: {port}
"""


def _apiservice(group: str, service: str = "") -> str:
    """An APIService for group/v1alpha1: served by a Service when `service` says so, else locally."""
    return (f"apiVersion: apiregistration.k8s.io/v1\nkind: APIService\nmetadata:\n  name: v1alpha1.{group}\n"
            f"spec:\n  group: {group}\n  version: v1alpha1\n  groupPriorityMinimum: 1000\n  versionPriority: 15\n"
            + service)


CALLING_OUT += "---\n".join([
    "", _apiservice("aggregated.example.com", "  insecureSkipTLSVerify: true\n  service:\n    name: aggregated\n"
                                              "    namespace: istio-apps\n    port: {port}\n"),
    _apiservice("local.example.com")])


def test_webhooks_registered_at_the_machines_loopback_receive_no_connection(repo: Path, capsys) -> None:
    """Issue 19, item 9: a ValidatingWebhookConfiguration and a CRD conversion webhook at an address on the
    machine's 127.0.0.1, and an APIService whose Service resolves there, are committed in a cluster folder.
    e2e reports each as not exercised at its line, applies the rest, and nothing connects to the listener:
    the objects are dry-run only (callouts.py) and the servers run in a namespace with only its own `lo`
    (netns.py). A valid CRD and a local APIService applied twice are not drift (their status changes)."""
    assert cli.main(["--root", str(repo), "render"]) == 0
    listener = _Listener()
    try:
        folder = repo / "clusters/cluster-2/extra"
        folder.mkdir()
        for i, doc in enumerate(CALLING_OUT.format(port=listener.port).split("---\n")):
            (folder / f"{i}.yaml").write_text(doc)
        capsys.readouterr()
        code = cli.main(["--root", str(repo), "e2e", "--clusters", "cluster-2", "--format", "json"])
        out = capsys.readouterr().out
        time.sleep(1)  # a connection the apiserver started late would still be counted
    finally:
        listener.close()
    assert listener.connections == [], f"connections from e2e's control plane: {listener.connections}"
    findings = json.loads(out)["findings"]
    assert code == 0, out
    notices = {(f["object"]["kind"], f["location"]["path"], f["location"]["line"]) for f in findings
               if f["rule"] == "server-not-exercised"}
    assert notices == {
        ("ValidatingWebhookConfiguration", "clusters/cluster-2/extra/0.yaml", 7),
        ("CustomResourceDefinition", "clusters/cluster-2/extra/1.yaml", 11),
        ("APIService", "clusters/cluster-2/extra/4.yaml", 11)}, out
    assert all("is not exercised: the API server would send" in f["message"] or "proxy the group's requests" in
               f["message"] for f in findings), out
    assert not [f for f in findings if f["rule"] != "server-not-exercised"], out


def test_the_namespace_reaches_nothing_on_the_machine() -> None:
    """netns.isolated: only `lo`, and neither this thread nor a process started inside can connect to a server
    on the machine's 127.0.0.1; the thread is back in the machine's namespace afterwards."""
    from gitops.e2e import netns

    listener = _Listener()
    try:
        with netns.isolated():
            assert netns.interfaces() == ["lo"]
            with pytest.raises(OSError):
                socket.create_connection(("127.0.0.1", listener.port), timeout=2).close()
            child = subprocess.run([sys.executable, "-c", f"import socket; socket.create_connection(('127.0.0.1', "
                                    f"{listener.port}), timeout=2)"], capture_output=True, timeout=60)
            assert child.returncode != 0
            inner = socket.socket()
            inner.bind(("127.0.0.1", 0))  # its own loopback works
            inner.listen()
            socket.create_connection(inner.getsockname(), timeout=2).close()
            inner.close()
        socket.create_connection(("127.0.0.1", listener.port), timeout=2).close()
        deadline = time.monotonic() + 5
        while not listener.connections and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        listener.close()
    assert len(listener.connections) == 1  # only the one made from outside


def test_e2e_refuses_to_run_without_its_namespace(monkeypatch, capsys) -> None:
    """Where no namespace can be made (no CAP_SYS_ADMIN), e2e exits 2 before it builds or starts anything."""
    from gitops.e2e import netns

    monkeypatch.setattr(netns, "CLONE_NEWNET", 0x7fffffff)  # an unshare(2) flag the kernel refuses (EINVAL)
    started = []
    monkeypatch.setattr(e2e, "ensure_binaries", lambda *a: started.append(a))
    assert cli.main(["--root", str(PROJECT), "e2e", "--clusters", "cluster-2"]) == 2
    err = capsys.readouterr().err
    assert "private network namespace, and unshare(CLONE_NEWNET) failed" in err and "does not run unisolated" in err
    assert started == []


