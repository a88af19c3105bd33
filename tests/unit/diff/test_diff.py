"""`gitops diff`: per-cluster render diffs, the findings delta and the cross-cluster call graph, base vs head.

One git history is built per module (each snapshot renders and validates once, ~1.5 s):
c0 the repository as it is, c1 a base change (both clusters), c2 a producer-only change
(cluster-2), c3 the ServiceExport dropped from cluster-2.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import PROJECT, SOURCES, edit, run_nox
from gitops.infra import git
from gitops.run import context
from gitops import cli
from gitops.diff import compare as diff, formats as diffreport
from gitops.run import render as hydrate, pipeline
from gitops.model.resources import Resource
from policies import mcs_clusterset_name_form, mcs_clusterset_url_resolves

POLICIES = (mcs_clusterset_url_resolves.POLICY,)
GIT = ["git", "-c", "user.name=Diff Test", "-c", "user.email=diff@example.com", "-c", "commit.gpgsign=false"]
CALLER = diff.Node("cluster-1", "Deployment", "istio-apps", "sample-caller-v1")
PRODUCER = diff.Node("cluster-2", "Service", "istio-apps", "sample-producer")
URL = "http://sample-producer.istio-apps.svc.clusterset.local:8080"


def _git(root: Path, *args: str) -> str:
    return subprocess.run([*GIT, "-C", str(root), *args], check=True, capture_output=True, text=True).stdout.strip()


def _commit(root: Path, message: str) -> str:
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", message)
    return _git(root, "rev-parse", "HEAD")


def _init(root: Path) -> str:
    """A git repository of the sources plus their committed render (clusters/, bootstrap/); returns the commit."""
    _git(root, "init", "-q", "-b", "main")
    _commit(root, "sources")
    assert cli.main(["--root", str(root), "render"]) == 0
    return _commit(root, "render")


def _rendered(root: Path, message: str) -> str:
    """Render and commit a change with its rendered folders, as a pull request does."""
    assert cli.main(["--root", str(root), "render"]) == 0
    return _commit(root, message)


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> dict[str, diff.Snapshot]:
    root = tmp_path_factory.mktemp("history") / "repo"
    for name in SOURCES:
        src, dst = PROJECT / name, root / name
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(src, dst) if src.is_dir() else shutil.copy2(src, dst)
    commits = {"c0": _init(root)}
    edit(root, "base/namespace/namespace.yaml", "    istio-injection: enabled\n",
         "    istio-injection: enabled\n    team: payments\n")
    commits["c1"] = _rendered(root, "label the namespace")
    edit(root, "base/producer/deployment.yaml", "  replicas: 1\n", "  replicas: 2\n")
    commits["c2"] = _rendered(root, "two producers")
    edit(root, "overlays/cluster-2/kustomization.yaml", "components:\n  - ../../components/export-gke\n", "")
    commits["c3"] = _rendered(root, "stop exporting")
    snaps = {}
    for name, commit in commits.items():
        with git.checkout(root, commit) as tree:
            snaps[name] = diff.snapshot(context.Run(tree, context.Options(), POLICIES))
    return snaps


def _diff(history: dict[str, diff.Snapshot], base: str, head: str) -> diff.Diff:
    return diff.compare(history[base], history[head], base, "0" * 40)


def _changes(d: diff.Diff) -> dict[str, list[tuple[str, str]]]:
    return {c.cluster: [(ch.change, ch.title) for ch in c.changes] for c in d.clusters}


def test_base_change_reaches_both_clusters(history) -> None:
    d = _diff(history, "c0", "c1")
    assert d.changed
    assert _changes(d) == {"cluster-1": [("changed", "Namespace istio-apps")],
                           "cluster-2": [("changed", "Namespace istio-apps")]}
    change = d.clusters[1].changes[0]
    assert change.path == "clusters/cluster-2/_cluster/namespace-istio-apps.yaml"
    assert change.diff.startswith("--- a/clusters/cluster-2/_cluster/namespace-istio-apps.yaml\n"
                                  "+++ b/clusters/cluster-2/_cluster/namespace-istio-apps.yaml\n@@ ")
    assert "+    team: payments\n" in change.diff
    assert "\n     istio-injection: enabled\n" in change.diff  # context line
    assert (d.introduced, d.fixed) == ([], [])
    assert [(e.caller, e.target, e.status) for e in d.graph.edges] == [(CALLER, PRODUCER, "unchanged")]


def test_producer_change_reaches_only_cluster_2(history) -> None:
    d = _diff(history, "c1", "c2")
    assert _changes(d) == {"cluster-1": [], "cluster-2": [("changed", "Deployment istio-apps/sample-producer-v1")]}
    assert "-  replicas: 1\n+  replicas: 2\n" in d.clusters[1].changes[0].diff
    text = diffreport.text(d)
    assert "cluster-1: no changes\ncluster-2: 0 added, 0 removed, 1 changed\n" in text
    assert "\033[" not in text  # colour only when asked (a tty)
    assert "\033[32m+  replicas: 2" in diffreport.text(d, color=True)


def test_dropping_the_export_breaks_the_callers_edge(history) -> None:
    d = _diff(history, "c2", "c3")
    # The export goes, and with it serviceexports from the roles Config Sync's reconciler runs with (issue 23).
    assert _changes(d) == {"cluster-1": [], "cluster-2": [
        ("changed", "ClusterRole gitops-mcs-reconciler-namespaced"), ("changed", "ClusterRole gitops-mcs-reconciler"),
        ("removed", "ServiceExport istio-apps/sample-producer")]}
    removed = d.clusters[1].changes[-1]
    assert removed.diff.startswith("--- a/clusters/cluster-2/istio-apps/serviceexport-sample-producer.yaml\n"
                                   "+++ /dev/null\n")
    assert "-kind: ServiceExport\n" in removed.diff
    [edge] = d.graph.edges
    assert (edge.caller, edge.target, edge.status, edge.url) == (CALLER, PRODUCER, "broken", URL)
    [finding] = d.introduced
    # The verdict is the finding's: its rule, message and line, never a second opinion of the diff's.
    assert (edge.rule, edge.problem, edge.where) == (finding.rule, finding.message, finding.where())
    # The Service still runs: only its export went away.
    assert d.graph.nodes == {CALLER: "unchanged", PRODUCER: "unexported"}
    assert d.fixed == []
    assert finding.rule == "mcs-clusterset-url-resolves"
    assert finding.message == (f"cluster-1 ConfigMap istio-apps/sample-caller-config calls {URL}, but no cluster in "
                               "clusterset fleet-prod exports istio-apps/sample-producer; cluster-2 has Service "
                               "istio-apps/sample-producer but no ServiceExport")
    assert (finding.location.path, finding.location.line) == ("overlays/cluster-1/producer-url.yaml", 8)
    # The other way round the finding is fixed and the edge comes back.
    back = _diff(history, "c3", "c2")
    assert [f.rule for f in back.fixed] == ["mcs-clusterset-url-resolves"] and back.introduced == []
    assert [(e.caller, e.target, e.status) for e in back.graph.edges] == [(CALLER, PRODUCER, "added")]


def test_markdown_has_summary_findings_and_mermaid_graph(history) -> None:
    [part] = diffreport.markdown(_diff(history, "c0", "c3"))
    assert part.startswith("<!-- gitops-diff part 1 -->\n_GitOps diff, part 1/1_\n")
    assert "| cluster-2 | 0 | 1 | 4 | " in part  # 2 objects and the 2 derived Config Sync roles changed
    assert "removed `ServiceExport istio-apps/sample-producer`" in part
    assert "### Findings: 1 introduced, 0 fixed" in part
    chart = part.split("```mermaid\n", 1)[1].split("```", 1)[0]
    assert chart.startswith("flowchart LR\n")
    caller, producer = (re.search(rf'(n\d+)\["{label}"\]', chart)[1]
                        for label in ("Deployment istio-apps/sample-caller-v1", "Service istio-apps/sample-producer"))
    assert f"{caller} -.-x|broken| {producer}" in chart
    assert re.search(r"linkStyle 0 stroke:#cf222e", chart)
    assert "```diff\n--- a/clusters/cluster-2/istio-apps/serviceexport-sample-producer.yaml\n" in part


def _fences_balanced(part: str) -> bool:
    depth_open = None
    for line in part.splitlines():
        m = re.match(r"^(`{3,})(\S*)$", line)
        if m and depth_open is None:
            depth_open = m[1]
        elif m and m[1] == depth_open and not m[2]:
            depth_open = None
    return depth_open is None


def test_markdown_splits_into_parts_under_the_limit(history) -> None:
    d = _diff(history, "c0", "c3")
    # One object whose diff alone is larger than a part.
    big = "".join(f"  key-{i}: value with ``` in it {i}\n" for i in range(60))
    path = "clusters/cluster-1/istio-apps/configmap-big.yaml"
    d.clusters[0].changes.append(diff.ObjectChange("cluster-1", path, "ConfigMap", "istio-apps", "big", "added",
                                                   diff.unified(path, None, big)))
    whole = diffreport.markdown(d)[0]
    parts = diffreport.markdown(d, max_chars=900)
    assert len(parts) > 4
    for i, part in enumerate(parts, 1):
        assert len(part) <= 900
        assert part.startswith(f"<!-- gitops-diff part {i} -->\n_GitOps diff, part {i}/{len(parts)}_\n")
        assert _fences_balanced(part), part
    # Cut only between blocks: a file's diff starts its part or follows a whole block.
    assert sum("\n<details><summary>cluster-2: removed <code>clusters/cluster-2/istio-apps/serviceexport-sample-producer.yaml"
               "</code></summary>\n\n```diff\n" in p for p in parts) == 1
    # The big diff is cut between lines, its fence (longer than any ``` inside) closed and reopened.
    continued = [p for p in parts if " (continued)</summary>\n\n````diff\n+  key-" in p]
    assert len(continued) >= 2
    body = [line for p in parts for line in p.splitlines() if line.startswith(("+", "-"))]
    assert body == [line for line in whole.splitlines() if line.startswith(("+", "-"))]


def test_json_lists_objects_findings_and_edges(history) -> None:
    doc = json.loads(diffreport.as_json(_diff(history, "c2", "c3")))
    assert doc["changed"] is True
    assert doc["clusters"][1]["removed"] == 1
    assert [o["kind"] for o in doc["clusters"][1]["objects"]] == ["ClusterRole", "ClusterRole", "ServiceExport"]
    assert doc["findings"]["introduced"][0]["rule"] == "mcs-clusterset-url-resolves"
    assert doc["graph"]["edges"] == [{"from": "cluster-1/Deployment/istio-apps/sample-caller-v1",
                                      "to": "cluster-2/Service/istio-apps/sample-producer", "url": URL,
                                      "status": "broken",
                                      "problem": doc["findings"]["introduced"][0]["message"],
                                      "rule": "mcs-clusterset-url-resolves",
                                      "where": "overlays/cluster-1/producer-url.yaml:8:3"}]


def test_generated_hash_suffix_is_normalised() -> None:
    norm = diff.normaliser(diff.generated_names([
        Resource("c", {"kind": "ConfigMap", "metadata": {"name": "app-config-5t8m4k9b2d"}})]))
    assert norm("configMapRef:\n  name: app-config-5t8m4k9b2d\n") == "configMapRef:\n  name: app-config-{hash}\n"
    assert norm("name: app-config-5t8m4k9b2dx") == "name: app-config-5t8m4k9b2dx"


def test_cli_uncommitted_cluster_2_change_against_default_base(repo: Path, capsys) -> None:
    """Default base (merge base with main) vs the working tree; Markdown parts written to PATH, PATH.2, ..."""
    _init(repo)
    edit(repo, "base/producer/service.yaml", "      port: 8080\n", "      port: 9090\n")
    assert cli.main(["--root", str(repo), "render"]) == 0
    out = repo.parent / "diff.md"
    (repo.parent / "diff.md.99").write_text("unrelated")
    (repo.parent / "diff.md.2").write_text("left from an earlier, longer run")
    code = cli.main(["--root", str(repo), "diff", "--format", "markdown", "--output-file", str(out),
                     "--max-comment-chars", "1500"])
    assert code == 1
    files = sorted(repo.parent.glob("diff.md*"))
    parts = [out] + [out.with_name(f"diff.md.{i}") for i in range(2, len(files))]
    assert [p.name for p in files if p.name != "diff.md.99"] == sorted(p.name for p in parts)
    texts = [p.read_text() for p in parts]
    assert all(len(t) <= 1500 and _fences_balanced(t) for t in texts)
    whole = "".join(texts)
    assert "No change in cluster-1." in whole and "| cluster-2 | 0 | 0 | 1 |" in whole
    assert "-    port: 8080\n+    port: 9090\n" in whole
    assert "mcs-clusterset-url-resolves" in whole  # the caller still uses port 8080
    assert _git(repo, "status", "--porcelain") == ("M base/producer/service.yaml\n"
                                                    " M clusters/cluster-2/istio-apps/service-sample-producer.yaml")


def test_cli_unchanged_tree_exits_0_and_bad_ref_exits_2(repo: Path, capsys) -> None:
    base = _init(repo)
    assert cli.main(["--root", str(repo), "diff", "--base", "no-such-branch"]) == 2
    assert "unknown git revision 'no-such-branch'" in capsys.readouterr().err
    assert cli.main(["--root", str(repo), "diff", "--base", base[:10], "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["changed"] is False and doc["base"]["commit"] == base
    assert [e["status"] for e in doc["graph"]["edges"]] == ["unchanged"]
    with pytest.raises(RuntimeError), git.checkout(repo, base) as tree:
        assert (tree / "inventory.yaml").is_file()
        raise RuntimeError("render failed")
    assert not tree.exists()  # the base's folder is removed, also on error


@pytest.mark.slow
def test_nox_diff_says_changes_found_and_keeps_the_exit_code(repo: Path) -> None:
    """Through nox, as the README and CI run it: a diff with changes is an answer, not a failure (nox prints
    "changes found", never "Command ... failed"), and still exits 1; a real error still fails with exit 2.
    The session runs on this test's interpreter (--no-venv), which has every requirement."""
    _init(repo)
    edit(repo, "base/producer/deployment.yaml", "  replicas: 1\n", "  replicas: 2\n")
    assert cli.main(["--root", str(repo), "render"]) == 0
    path = {"PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])}
    nox = ("-f", str(PROJECT / "noxfile.py"), "--no-venv", "--no-install", "-s", "diff", "--")
    done = run_nox(*nox, "--root", str(repo), "--base", "HEAD", env=path)
    assert done.returncode == 1, done.stdout
    assert "cluster-2: 0 added, 0 removed, 1 changed" in done.stdout
    assert "nox > changes found (exit code 1)" in done.stdout and "failed" not in done.stdout, done.stdout
    done = run_nox(*nox, "--root", str(repo), "--base", "no-such-branch", env=path)
    assert done.returncode == 2, done.stdout
    assert "unknown git revision 'no-such-branch'" in done.stdout and "failed with exit code 2" in done.stdout


def test_outside_a_repository_is_an_error(tmp_path: Path, capsys) -> None:
    assert cli.main(["--root", str(tmp_path), "diff"]) == 2
    assert "is not inside a git repository" in capsys.readouterr().err


def test_generator_hash_change_is_one_changed_object(repo: Path) -> None:
    """A configMapGenerator literal change renames the ConfigMap by hash: shown as one changed object."""
    edit(repo, "overlays/cluster-2/kustomization.yaml", "components:\n",
         "configMapGenerator:\n  - name: producer-settings\n    namespace: istio-apps\n    literals:\n"
         "      - GREETING=hello\ncomponents:\n")
    edit(repo, "base/producer/deployment.yaml", "          ports:\n",
         "          envFrom:\n            - configMapRef:\n                name: producer-settings\n          ports:\n")

    def files() -> dict[str, diff.RenderedFile]:
        assert cli.main(["--root", str(repo), "render"]) == 0
        inv, resources = pipeline.build(repo)
        assert len(diff.generated_names(r for items in resources.values() for r in items)) == 1
        return diff.committed_files(inv, hydrate.on_disk(repo))

    before = files()
    edit(repo, "overlays/cluster-2/kustomization.yaml", "GREETING=hello", "GREETING=hi")
    [cluster_1, cluster_2] = diff.compare_files(["cluster-1", "cluster-2"], before, files())
    assert cluster_1.changes == []
    [change] = cluster_2.changes
    assert (change.change, change.title, change.path) == (
        "changed", "ConfigMap istio-apps/producer-settings-{hash}",
        "clusters/cluster-2/istio-apps/configmap-producer-settings-{hash}.yaml")
    assert "-  GREETING: hello\n+  GREETING: hi\n" in change.diff
    assert "name: producer-settings-{hash}" in change.diff


# --- one verdict for a call: the graph's broken edges are exactly the findings' ---------------------

VERDICT_POLICIES = (mcs_clusterset_url_resolves.POLICY, mcs_clusterset_name_form.POLICY)


@pytest.fixture(scope="module")
def verdict_base(tmp_path_factory: pytest.TempPathFactory) -> diff.Snapshot:
    root = tmp_path_factory.mktemp("verdict") / "repo"
    for name in SOURCES:
        src, dst = PROJECT / name, root / name
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(src, dst) if src.is_dir() else shutil.copy2(src, dst)
    return diff.snapshot(context.Run(root, context.Options(), VERDICT_POLICIES))


@pytest.mark.parametrize("new_url, rule, says", [
    ("http://sample-producer.istio-apps.svc.clusterset.local:9090", "mcs-clusterset-url-resolves",
     "port 9090 is not a port of the exported Service"),
    ("http://cluster-2.sample-producer.istio-apps.svc.clusterset.local:8080", "mcs-clusterset-name-form", ""),
])
def test_edge_is_broken_exactly_when_a_finding_says_so(repo: Path, verdict_base, new_url: str, rule: str,
                                                       says: str) -> None:
    edit(repo, "overlays/cluster-1/producer-url.yaml", URL, new_url)
    d = diff.compare(verdict_base, diff.snapshot(context.Run(repo, context.Options(), VERDICT_POLICIES)), "base", "0" * 40)
    assert [f.rule for f in d.introduced] == [rule]
    [finding] = d.introduced
    [edge] = [e for e in d.graph.edges if e.caller == CALLER]
    assert (edge.status, edge.rule, edge.problem, edge.where) == ("broken", rule, finding.message, finding.where())
    assert says in edge.problem
    [part] = diffreport.markdown(d)
    row = next(line for line in part.splitlines() if line.startswith("| broken |"))
    assert f"`{rule}`" in row and "`overlays/cluster-1/producer-url.yaml:8:3`" in row
    assert "-.-x|broken|" in part
    # Without the finding (the policy not run), the same call is not broken: the graph has no verdict of its own.
    quiet = diff.compare(verdict_base, diff.snapshot(context.Run(repo, context.Options(), ())), "base", "0" * 40)
    assert [e.status for e in quiet.graph.edges if e.caller == CALLER] != ["broken"]


def test_unchanged_edges_are_a_count_and_findings_are_escaped(history) -> None:
    d = _diff(history, "c0", "c1")
    [part] = diffreport.markdown(d)
    assert "1 of 2 clusters" not in part and "2 of 2 clusters receive changes." in part
    assert "1 unchanged call not listed." in part and "| unchanged |" not in part
    f = history["c3"].findings[0]
    d.findings.introduced = [diff.replace(f, message="calls <svc>.<ns>.svc.clusterset.local | *x* [a](b)")]
    [part] = diffreport.markdown(d)
    assert "calls &lt;svc&gt;.&lt;ns&gt;.svc.clusterset.local \\| \\*x\\* \\[a\\](b)" in part
    one = diff.compare(history["c1"], history["c2"], "b", "0" * 40)
    assert "1 of 2 clusters receives changes." in diffreport.markdown(one)[0]


def _big_graph(callers: int, exporters: int, status: str) -> diff.Graph:
    """Every caller of `callers` clusters calls one Service exported from `exporters` clusters."""
    edges = []
    for i in range(callers):
        for j in range(exporters):
            edges.append(diff.Edge(diff.Node(f"c{i}", "Deployment", f"ns{i % 7}", f"app{i}"),
                                   diff.Node(f"e{j}", "Service", "shop", "orders"), "http://orders", status))
    nodes = {n: "unchanged" for e in edges for n in (e.caller, e.target)}
    sets = {n.cluster: f"fleet-{k % 3}" for k, n in enumerate(nodes)}
    return diff.Graph(nodes, edges, sets)


def _mermaid_edges(lines: list[str]) -> list[str]:
    return [line for line in lines if re.match(r"^  n\d+ \S+\|", line)]


def test_mermaid_draws_objects_up_to_100_edges() -> None:
    g = _big_graph(10, 10, "broken")
    drawn = _mermaid_edges(diffreport.mermaid(g))
    assert len(drawn) == 100 and diffreport.drawing(g).level == "object"


def test_mermaid_collapses_above_100_edges_and_never_exceeds_500() -> None:
    g = _big_graph(30, 40, "broken")  # 1,200 broken edges
    d = diffreport.drawing(g)
    assert d.level == "namespace"
    # Calls, not edges: each caller's one call to orders counted once per clusterset it is exported from (3).
    assert sum(n for *_, n in d.edges) == 30 * 3
    drawn = _mermaid_edges(diffreport.mermaid(g))
    assert 0 < len(drawn) <= 100
    assert all(re.search(r"\|(\d+ )?broken\|", line) for line in drawn)
    # Unchanged edges are left out of a large diagram; changed ones stay.
    g.edges += [diff.Edge(e.caller, e.target, e.url, "unchanged") for e in _big_graph(30, 40, "x").edges]
    assert sum(n for *_, n in diffreport.drawing(g).edges) == 30 * 3
    # Even collapsed to clustersets, never more than Mermaid's 500 edges.
    wide = diff.Graph({}, [diff.Edge(diff.Node(f"c{i}", "Deployment", "a", "x"), diff.Node(f"e{i}", "Service", "b", "y"),
                                     "u", "broken") for i in range(700)],
                      {**{f"c{i}": f"cs{i}" for i in range(700)}, **{f"e{i}": f"es{i}" for i in range(700)}})
    wide.nodes = {n: "unchanged" for e in wide.edges for n in (e.caller, e.target)}
    d = diffreport.drawing(wide)
    assert d.level == "clusterset" and len(d.edges) == 500 and d.left_out == 200
    assert len(_mermaid_edges(diffreport.mermaid(wide))) == 500
    parts = diffreport.markdown(diff.Diff("b", "0" * 40, [], diff.Findings(), wide))
    assert "200 calls not drawn" in parts[0]
