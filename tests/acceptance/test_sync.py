"""`gitops sync` against the real Argo CD v3.2.11 (built into .tools/bin on first use; never skipped).

Each run starts etcd, two kube-apiservers, miniredis, a git daemon and Argo CD's three controllers in a private
network namespace (about 1.5 GiB, 30-90 s), so the module keeps to three runs: the repository as it is (it must
stay Synced), a copy whose HTTPRoute leaves out the fields its CRD defaults (sync-unstable at the line), and a
run stopped by SIGTERM (nothing may be left running). GITOPS_SYNC_TIMEOUT bounds each run.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import PROJECT, edit, project_copy, snippet_line
from gitops import cli

pytestmark = pytest.mark.slow
TIME_BOX = "600"  # seconds for one run once its tools are built (GITOPS_SYNC_TIMEOUT)
ROUTE = "overlays/cluster-1/httproute.yaml"
DEFAULTED = ("    - group: gateway.networking.k8s.io\n      kind: Gateway\n      name: sample-caller-ui\n",
             "    - name: sample-caller-ui\n")
BACKEND = ('        - group: ""\n          kind: Service\n          name: sample-caller\n          port: 8080\n'
           "          weight: 1\n", "        - name: sample-caller\n          port: 8080\n")


@pytest.fixture(autouse=True)
def _time_box(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITOPS_SYNC_TIMEOUT", TIME_BOX)


def _commit(repo: Path) -> None:
    """`repo` made a git repository with one commit (the sync run serves a commit)."""
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.invalid"}
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "copy"]):
        subprocess.run(["git", "-C", str(repo), *args], check=True, env=env, capture_output=True, timeout=120)


def _sync_failing(repo: Path, capsys: pytest.CaptureFixture[str]) -> tuple[list[dict], str]:
    """`repo` committed, then `gitops sync --format json` on it, which must exit 1: (its findings, its stderr)."""
    _commit(repo)
    capsys.readouterr()
    code = cli.main(["--root", str(repo), "sync", "--format", "json"])
    captured = capsys.readouterr()
    assert code == 1, captured.out + captured.err
    return json.loads(captured.out)["findings"], captured.err


def test_repository_stays_synced(capsys: pytest.CaptureFixture[str]) -> None:
    """The repository's own Argo CD cluster: one Application, synced, still Synced after a second sync and a hard
    refresh, nothing Degraded."""
    code = cli.main(["--root", str(PROJECT), "sync", "--format", "json"])
    captured = capsys.readouterr()
    assert code == 0, captured.out + captured.err
    assert json.loads(captured.out)["findings"] == []
    assert "sync: cluster-1: Application cluster-1, " in captured.err
    assert "sync target: 1 Argo CD cluster(s) (cluster-1) with Argo CD v3.2.11" in captured.err


def test_route_without_defaulted_fields_is_unstable(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The HTTPRoute as it was before the fix: Argo CD's second sync re-applies it; reported at its parentRefs item
    with the fields the API server stores."""
    repo = project_copy(tmp_path / "repo")
    edit(repo, ROUTE, *DEFAULTED)
    edit(repo, ROUTE, *BACKEND)
    assert cli.main(["--root", str(repo), "render"]) == 0
    findings, _ = _sync_failing(repo, capsys)
    assert [(f["rule"], f["location"]["path"], f["location"]["line"]) for f in findings] == [
        ("sync-unstable", ROUTE, snippet_line(repo, ROUTE, "    - name: sample-caller-ui"))], findings
    message = findings[0]["message"]
    assert "re-applied HTTPRoute sample-caller-ui" in message
    assert 'spec.parentRefs[0].kind: "Gateway"' in message and "spec.rules[0].backendRefs[0].weight: 1" in message


def _children() -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        out.setdefault(int(stat.rpartition(")")[2].split()[1]), []).append(int(pid))
    return out


def _descendants(pid: int) -> set[int]:
    children, found, todo = _children(), set(), [pid]
    while todo:
        for child in children.get(todo.pop(), ()):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _alive(pids: set[int]) -> list[str]:
    out = []
    for pid in pids:
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        out.append(f"{pid}: {cmd[:200]}")
    return out


def test_sigterm_stops_every_process(tmp_path: Path) -> None:
    """SIGTERM once Argo CD is up: the run ends within seconds, exit 130-ish, no process or folder left behind."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {**os.environ, "TMPDIR": str(scratch), "PYTHONPATH": os.pathsep.join(sys.path)}
    log = tmp_path / "err.log"
    with open(log, "wb") as err:
        run = subprocess.Popen([sys.executable, "-m", "gitops", "--root", str(PROJECT), "sync"], stdout=subprocess.DEVNULL,
                               stderr=err, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + float(TIME_BOX)
        while b"sync: Argo CD v3.2.11 up" not in log.read_bytes():
            assert run.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.5)
        started = _descendants(run.pid)
        assert len(started) >= 8, _alive(started)  # etcd, 2 apiservers, git daemon, miniredis, Argo CD x3
        run.send_signal(signal.SIGTERM)
        code = run.wait(timeout=60)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait()
    assert code != 0, log.read_text()
    assert "Traceback" not in log.read_text()
    time.sleep(1)
    assert _alive(started) == []
    assert list(scratch.iterdir()) == []


CLUSTER_ROLE = """apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: reader
rules: []
"""
BAD_LABEL = ("base/caller/deployment.yaml", "  labels:\n    app: sample-caller\n    version: v1\nspec:",
             "  labels:\n    app: sample-caller\n    version: -bad-\nspec:")


@pytest.mark.parametrize("case", ["refused", "failed"])
def test_refused_and_failed_syncs_at_their_lines(case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A cluster-scoped kind the AppProject does not permit: Argo CD refuses the sync (sync-refused, at the object);
    a label the API server refuses: the sync fails (sync-failed, at the label's line)."""
    repo = project_copy(tmp_path / "repo")
    if case == "refused":
        (repo / "overlays/cluster-1/clusterrole.yaml").write_text(CLUSTER_ROLE)
        edit(repo, "overlays/cluster-1/kustomization.yaml", "  - httproute.yaml\n",
             "  - httproute.yaml\n  - clusterrole.yaml\n")
        where = ("overlays/cluster-1/clusterrole.yaml", 2)
        said = "resource rbac.authorization.k8s.io:ClusterRole is not permitted in project mcs-fleet"
    else:
        edit(repo, *BAD_LABEL)
        where = (BAD_LABEL[0], snippet_line(repo, BAD_LABEL[0], "    version: -bad-"))
        said = 'Invalid value: "-bad-"'
    assert cli.main(["--root", str(repo), "render"]) == 0
    findings, _ = _sync_failing(repo, capsys)
    assert [(f["rule"], f["location"]["path"], f["location"]["line"]) for f in findings] == [
        (f"sync-{case}", *where)], findings
    assert said in findings[0]["message"], findings[0]["message"]


CLUSTER_3 = """  - name: cluster-3
    clusterset: fleet-prod
    location: europe-west1
    kubernetesVersion: "1.33"
    mcs: gke
    sync: argocd
    overlay: overlays/cluster-3
"""


def test_cluster_without_objects_is_refused_at_its_inventory_entry(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """An Argo CD cluster whose overlay renders nothing has no folder in git. The ApplicationSet lists every Argo CD
    cluster (a list generator: removal is explicit, issue 23), so the real Argo CD generates its Application and
    refuses it ("app path does not exist"): sync-refused at the cluster's inventory entry, in Argo CD's words;
    cluster-1 beside it still syncs clean."""
    repo = project_copy(tmp_path / "repo")
    inventory = (repo / "inventory.yaml").read_text()
    (repo / "inventory.yaml").write_text(inventory.replace("  - name: cluster-2\n", CLUSTER_3 + "  - name: cluster-2\n"))
    (repo / "overlays/cluster-3").mkdir()
    (repo / "overlays/cluster-3/kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: []\n")
    assert cli.main(["--root", str(repo), "render"]) == 0
    findings, err = _sync_failing(repo, capsys)
    assert [(f["rule"], f["cluster"], f["location"]["path"], f["location"]["line"]) for f in findings] == [
        ("sync-refused", "cluster-3", "inventory.yaml", snippet_line(repo, "inventory.yaml", "  - name: cluster-3"))
    ], findings
    assert "clusters/cluster-3: app path does not exist" in findings[0]["message"]
    assert "sync: cluster-1: Application cluster-1, " in err


@pytest.mark.parametrize(("clusters", "said"), [("cluster-2", "cluster-2 do(es) not sync with Argo CD"),
                                                ("nope", "no cluster named nope")])
def test_clusters_that_argocd_does_not_sync_are_usage_errors(clusters: str, said: str,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    """Before anything is built or started: exit 2, one line, no traceback."""
    assert cli.main(["--root", str(PROJECT), "sync", "--clusters", clusters]) == 2
    err = capsys.readouterr().err
    assert said in err and "Traceback" not in err, err
