"""One finding per cause: grouping in every format, from hand-made findings and through the pipeline,
several outputs from one run, the job summary, the progress line, and the annotated builds it needs."""
from __future__ import annotations

import io
import json
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from conftest import edit, write
from gitops.run import context
from gitops.run.stages import build
from gitops import cli
from gitops.scaffold import fleetgen
from gitops.run import pipeline
from gitops.model.findings import Finding, ObjectRef, Related, Severity, SourceLocation
from gitops.infra.progress import Progress
from gitops.report import FORMATS, ReportContext
from gitops.report._common import cluster_list, group
from gitops.run.sourcemap import SourceMap
from policies import REGISTRY

CLUSTERS = tuple(f"cluster-{i}" for i in range(1, 7))
SERVICE = SourceLocation("base/orders/service.yaml", 13, 7)
PATCH = SourceLocation("base/shop/upstreams.yaml", 8, 3)
CALLER = ObjectRef("v1", "ConfigMap", "shop", "shop-config")


def _broken_call(cluster: str, line: int = 8) -> Finding:
    """The same base line broken in every cluster that receives it: only the cluster name differs."""
    return Finding("mcs-clusterset-url-resolves", Severity.ERROR,
                   f"{cluster} ConfigMap shop/shop-config calls http://orders.shop.svc.clusterset.local:8080, "
                   "but port 8080 is not a port of the exported Service shop/orders; exported ports are 9090",
                   cluster=cluster, obj=CALLER, field_path="data.ORDERS_URL", fix="Correct the port.",
                   location=SourceLocation(PATCH.path, line, 3),
                   related=(Related(SERVICE, f"{cluster} Service shop/orders port 9090"),
                            Related(SERVICE, "cluster-6 Service shop/orders port 9090")))


def _findings() -> list[Finding]:
    other = Finding("image-pinned", Severity.ERROR, "cluster-2 Deployment shop/shop-v1 uses an untagged image",
                    cluster="cluster-2", obj=ObjectRef("apps/v1", "Deployment", "shop", "shop-v1"),
                    location=SourceLocation("base/shop/deployment.yaml", 20, 18))
    return [*(_broken_call(c) for c in CLUSTERS[:5]), other]


def _render(fmt: str, findings: list[Finding] | None = None) -> str:
    return FORMATS[fmt](_findings() if findings is None else findings, ReportContext(clusters=CLUSTERS))


def test_same_rule_line_and_message_shape_is_one_group() -> None:
    groups = group(_findings(), CLUSTERS)
    assert len(groups) == 2
    calls = next(g for g in groups if g.rule == "mcs-clusterset-url-resolves")
    assert calls.clusters == CLUSTERS[:5] and len(calls.findings) == 5
    # The other end, once per line, however many clusters name it.
    assert calls.related == (Related(SERVICE, "Service shop/orders port 9090 (in 6 clusters)"),)
    assert cluster_list(calls.clusters, 6) == "in 5 of 6 clusters: cluster-1, cluster-2, cluster-3 and 2 more"
    # Another line, or another message shape, is another cause.
    moved = [*_findings(), _broken_call("cluster-6", line=9)]
    assert len(group(moved, CLUSTERS)) == 3
    assert len(group([*_findings(), Finding("mcs-clusterset-url-resolves", Severity.ERROR, "other", "cluster-6",
                                            location=SourceLocation(PATCH.path, 8, 3))], CLUSTERS)) == 3


@pytest.mark.parametrize("fmt", ["text", "markdown"])
def test_human_formats_name_the_clusters_once(fmt: str) -> None:
    out = _render(fmt)
    assert out.count("port 8080 is not a port") == 1
    assert "in 5 of 6 clusters: cluster-1, cluster-2, cluster-3 and 2 more" in out
    assert out.count("base/orders/service.yaml:13") == 1


def test_json_keeps_every_finding_and_adds_the_groups() -> None:
    doc = json.loads(_render("json"))
    assert len(doc["findings"]) == 6
    assert [(g["rule"], g["clusters"], g["findings"]) for g in doc["groups"]] == [  # in source-line order
        ("image-pinned", ["cluster-2"], 1), ("mcs-clusterset-url-resolves", list(CLUSTERS[:5]), 5)]


def test_sarif_one_result_per_cause_with_clusters_and_stable_fingerprints() -> None:
    results = json.loads(_render("sarif"))["runs"][0]["results"]
    assert len(results) == 2
    calls = results[1] if results[0]["ruleId"] == "image-pinned" else results[0]
    assert calls["properties"]["clusters"] == list(CLUSTERS[:5]) and calls["properties"]["clusterCount"] == 5
    assert len(calls["relatedLocations"]) == 1
    fingerprint = calls["partialFingerprints"]
    # The same cause in fewer clusters, or moved down a line, is the same alert.
    fewer = json.loads(_render("sarif", [_broken_call(c, line=10) for c in CLUSTERS[:2]]))["runs"][0]["results"]
    assert [r["partialFingerprints"] for r in fewer] == [fingerprint]


def test_github_one_annotation_per_line_most_severe_first() -> None:
    warning = Finding("image-pull-policy", Severity.WARNING, "w", cluster="cluster-1",
                      location=SourceLocation("base/shop/deployment.yaml", 1, 1))
    lines = _render("github", [warning, *_findings()]).splitlines()
    assert len(lines) == 4  # the broken call's line, its other end, the image line, the warning
    assert [line.split(" ", 1)[0] for line in lines] == ["::error", "::error", "::error", "::warning"]
    assert sum("file=base/orders/service.yaml,line=13" in line for line in lines) == 1
    [call] = [line for line in lines if f"file={PATCH.path}" in line]
    assert "in 5 of 6 clusters: cluster-1, cluster-2, cluster-3 and 2 more" in call
    assert "file=base/orders/service.yaml" in lines[2]  # an error's other end comes after the errors' own lines


def test_junit_one_case_per_rule_and_location_with_file_and_line() -> None:
    root = ET.fromstring(_render("junit"))
    cases = [c for c in root.iter("testcase")]
    assert [(c.get("classname"), c.get("file"), c.get("line")) for c in cases] == [
        ("image-pinned", "base/shop/deployment.yaml", "20"), ("mcs-clusterset-url-resolves", PATCH.path, "8")]
    assert cases[1].find("failure").get("message").startswith("5 errors: ")


# --- through the pipeline: a generated fleet with one broken base port -------------------------------

@pytest.fixture(scope="module")
def broken_fleet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("fleet")
    fleetgen.generate(root, clusters=4, services=6)
    service = root / "base" / fleetgen.Service(0).name / "service.yaml"
    service.write_text(service.read_text().replace("      port: 8080\n", "      port: 9090\n"))
    assert cli.main(["--root", str(root), "render"]) == 0
    return root


def test_several_outputs_from_one_run(broken_fleet: Path, tmp_path: Path, capsys, monkeypatch) -> None:
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    sarif, junit, text = tmp_path / "v.sarif", tmp_path / "out" / "v.xml", tmp_path / "v.txt"
    code = cli.main(["--root", str(broken_fleet), "validate", "--format", "github", "--output", f"sarif={sarif}",
                     "--output", f"junit={junit}", "--output", f"text={text}"])
    captured = capsys.readouterr()
    assert code == 1
    assert captured.err == ""  # no progress line when stderr is not a terminal
    annotations = captured.out.splitlines()
    results = json.loads(sarif.read_text())["runs"][0]["results"]
    cases = [c for c in ET.fromstring(junit.read_text()).iter("testcase") if c.find("failure") is not None]
    calls = [r for r in results if r["ruleId"] == "mcs-clusterset-url-resolves"]
    assert calls and len(calls) == len({r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
                                        for r in calls})
    # The broken Service line is one annotation, whatever the number of callers and exporters.
    assert sum("file=base/orders/service.yaml,line=" in a for a in annotations) == 1
    assert len(annotations) == len({a.split("::", 2)[1] for a in annotations})
    assert all(c.get("file") and c.get("line") for c in cases)
    assert "mcs-clusterset-url-resolves" in text.read_text()
    assert summary.read_text().startswith("### GitOps validation: ")
    assert "fix: " in summary.read_text()


def test_only_one_output_may_go_to_stdout(broken_fleet: Path, capsys) -> None:
    assert cli.main(["--root", str(broken_fleet), "validate", "--output", "json=-"]) == 2
    assert "only one output" in capsys.readouterr().err
    assert cli.main(["--root", str(broken_fleet), "validate", "--output", "yaml=x"]) == 2
    assert cli.main(["--root", str(broken_fleet), "validate", "--output", "json"]) == 2


def test_annotated_builds_that_are_needed_run_together(broken_fleet: Path, monkeypatch, capsys) -> None:
    """Objects the tree cannot place: their clusters' annotated builds are asked for at once (in parallel),
    not one after another as findings are located."""
    batches: list[list[str]] = []
    real = build.build_annotated_all

    def counted(kustomize, clusters, root, workers=None, on_built=None, closures=None):  # type: ignore[no-untyped-def]
        batches.append([c.name for c in clusters])
        return real(kustomize, clusters, root, workers, on_built, closures)

    monkeypatch.setattr(build, "build_annotated_all", counted)
    monkeypatch.setattr(SourceMap, "_from_tree", lambda self, res: None)  # only kustomize's annotations
    assert cli.main(["--root", str(broken_fleet), "validate", "--format", "json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    callers = {f["cluster"] for f in doc["findings"]}
    assert batches and len(batches[0]) > 1
    assert callers <= {c for batch in batches for c in batch}
    assert all(f["location"] for f in doc["findings"])


# --- progress ------------------------------------------------------------------------------------

def test_progress_line_and_no_color(monkeypatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    p = Progress(io.StringIO())
    p.stage("render", 50)
    p.advance(3)
    assert p.line().startswith("validate: \033[1mrender\033[0m 3/50 clusters (")
    monkeypatch.setenv("NO_COLOR", "1")
    plain = Progress(io.StringIO())
    plain.stage("policies")
    assert plain.line().startswith("validate: policies (") and "\033" not in plain.line()


def test_progress_draws_only_when_enabled() -> None:
    stream = io.StringIO()
    with Progress(stream, enabled=True, delay=0) as p:
        p.stage("render", 2)
        deadline = time.monotonic() + 10
        while "render" not in stream.getvalue() and time.monotonic() < deadline:
            time.sleep(0.05)
    assert "validate: " in stream.getvalue() and "render" in stream.getvalue()
    assert stream.getvalue().endswith("\r")  # the line is blanked at the end
    quiet = io.StringIO()
    with Progress(quiet, enabled=False, delay=0) as p:
        p.stage("render", 2)
    assert quiet.getvalue() == ""


def _located(root: Path) -> list[tuple]:
    result = pipeline.validate(root, REGISTRY, context.Options(check_stale=False))
    return [(f.rule, f.cluster, f.location, f.related) for f in result.findings]


@pytest.mark.parametrize("where", ["repository", "fleet"])
def test_placing_from_the_tree_agrees_with_kustomize_annotations(where: str, repo: Path, broken_fleet: Path,
                                                                  monkeypatch) -> None:
    """Objects placed from their overlay's kustomization tree get the lines an annotated build gives."""
    root = broken_fleet if where == "fleet" else repo
    if where == "repository":  # a patched URL (overlay), its exported Service (base) and a base image
        edit(repo, "base/producer/service.yaml", "      port: 8080\n", "      port: 9090\n")
        edit(repo, "base/caller/deployment.yaml", "sample-caller:1.0.0", "sample-caller:latest")
    built: list[str] = []
    real = build.build_annotated_all
    monkeypatch.setattr(build, "build_annotated_all",
                        lambda k, cs, r, *more: built.extend(c.name for c in cs) or real(k, cs, r, *more))
    from_tree = _located(root)
    assert built == [] and len(from_tree) >= 2
    monkeypatch.setattr(SourceMap, "_from_tree", lambda self, res: None)
    annotated = _located(root)
    assert built  # the reference run did use kustomize's annotations
    assert from_tree == annotated
    assert all(loc is not None for _, _, loc, _ in from_tree)


def test_an_ambiguous_name_falls_back_to_the_annotated_build(repo: Path, monkeypatch) -> None:
    """Two objects of one kind and name in a cluster: the tree cannot tell them apart, kustomize can."""
    write(repo, "overlays/cluster-1/extra-sa.yaml",
          "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: sample-caller-sa\n  namespace: other\n")
    edit(repo, "overlays/cluster-1/kustomization.yaml", "  - httproute.yaml\n", "  - httproute.yaml\n  - extra-sa.yaml\n")
    built: list[str] = []
    real = build.build_annotated
    monkeypatch.setattr(build, "build_annotated", lambda k, c, r, *more: built.append(c.name) or real(k, c, r, *more))
    inv, resources = pipeline.build(repo)
    sources = context.source_map(repo, inv, context.kustomize(repo), resources)
    [extra] = [r for r in resources["cluster-1"] if r.kind == "ServiceAccount" and r.namespace == "other"]
    assert sources._from_tree(extra) is None
    assert built == []
    loc = sources.locate(extra, ("metadata", "namespace"))
    assert built == ["cluster-1"]
    assert (loc.path, loc.line) == ("overlays/cluster-1/extra-sa.yaml", 5)


def test_job_summary_stays_under_githubs_limit() -> None:
    from gitops.report import github

    many = [Finding("r", Severity.ERROR, "xx " * 700, cluster="cluster-1", location=SourceLocation(f"f{i}.yaml", 1))
            for i in range(700)]
    text = github.summary(many, ReportContext(clusters=CLUSTERS))
    assert len(text.encode()) <= github.SUMMARY_MAX_CHARS
    assert text.endswith("the SARIF or JSON report has every finding._\n")
    assert github.summary(_findings(), ReportContext(clusters=CLUSTERS)).startswith("### GitOps validation")
    # Appended after earlier steps' summaries: only what is left of the limit is used.
    left = github.summary(many, ReportContext(clusters=CLUSTERS), max_bytes=5000)
    assert len(left.encode()) <= 5000 and left.endswith("the SARIF or JSON report has every finding._\n")
