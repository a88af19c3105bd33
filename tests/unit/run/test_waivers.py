"""Waivers: loading policies/waivers.yaml with line numbers, matching by each target field, expiry, unused."""
from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from conftest import write

from gitops.run.stages import waivers
from gitops.model.errors import InputError
from gitops.model.findings import Finding, ObjectRef, Severity, SourceLocation
from gitops.run.stages.waivers import Waiver
from policies import REGISTRY

TODAY = date(2026, 1, 15)
CALLER_CM = ObjectRef("v1", "ConfigMap", "istio-apps", "sample-caller-config")


def url_finding() -> Finding:
    return Finding("duplicate-object", Severity.ERROR, "ConfigMap istio-apps/sample-caller-config is declared twice",
                   cluster="cluster-1", obj=CALLER_CM,
                   location=SourceLocation("overlays/cluster-1/producer-url.yaml", 8, 3))


def waiver(**target: str) -> Waiver:
    return Waiver(rule="duplicate-object", reason="known", expires=date(2026, 1, 31), line=3, column=3,
                  cluster=target.get("cluster"), obj=target.get("object"), path=target.get("path"))


def test_committed_file_is_valid_and_empty(repo: Path) -> None:
    known = [p.id for p in REGISTRY] + [r.id for r in waivers.RULES]
    assert waivers.load(repo, known) == []
    assert "# - rule:" in (repo / waivers.WAIVERS_FILE).read_text()


def test_no_file_means_no_waivers(tmp_path: Path) -> None:
    assert waivers.load(tmp_path) == []


def test_load_keeps_lines(repo: Path) -> None:
    write(repo, waivers.WAIVERS_FILE, """\
# accepted problems
- rule: duplicate-object
  target:
    cluster: "cluster-*"
    object: ConfigMap/istio-apps/*
  reason: Two ConfigMaps while the rename rolls out.
  expires: 2026-02-01
- rule: duplicate-object
  target: {path: "overlays/cluster-2/*"}
  reason: "quoted"
  expires: "2026-03-01"
""")
    assert waivers.load(repo) == [
        Waiver("duplicate-object", "Two ConfigMaps while the rename rolls out.", date(2026, 2, 1), line=2, column=3,
               cluster="cluster-*", obj="ConfigMap/istio-apps/*"),
        Waiver("duplicate-object", "quoted", date(2026, 3, 1), line=8, column=3, path="overlays/cluster-2/*"),
    ]


@pytest.mark.parametrize("target", [
    {"cluster": "cluster-1"},
    {"cluster": "cluster-?"},
    {"object": "ConfigMap/istio-apps/sample-caller-config"},
    {"object": "ConfigMap/*"},
    {"path": "overlays/cluster-1/producer-url.yaml"},
    {"path": "overlays/*"},
    {"cluster": "cluster-1", "object": "*/istio-apps/*", "path": "overlays/*/producer-url.yaml"},
])
def test_matches_by_each_target_field(target: dict[str, str]) -> None:
    f = url_finding()
    assert waivers.apply([f], [waiver(**target)], TODAY) == []
    assert f.waived == "known"
    assert not f.counts


@pytest.mark.parametrize("target", [
    {"cluster": "cluster-2"},
    {"object": "ConfigMap/other/*"},
    {"path": "base/*"},
    {"cluster": "cluster-1", "path": "base/*"},  # every given glob must match
])
def test_a_mismatching_field_does_not_waive(target: dict[str, str]) -> None:
    f = url_finding()
    extra = waivers.apply([f], [waiver(**target)], TODAY)
    assert f.waived is None
    assert [e.rule for e in extra] == ["waiver-unused"]


def test_other_rule_and_missing_fields_do_not_match() -> None:
    other_rule = Finding("schema-invalid", Severity.ERROR, "m", cluster="cluster-1")
    assert not waiver(cluster="*").matches(other_rule)
    no_location = Finding("duplicate-object", Severity.ERROR, "m", cluster="cluster-1")
    assert not waiver(path="*").matches(no_location)
    assert not waiver(object="*").matches(no_location)
    assert not waiver(cluster="*").matches(Finding("duplicate-object", Severity.ERROR, "m"))


def test_cluster_scoped_objects_match_as_kind_slash_name() -> None:
    ns = Finding("duplicate-object", Severity.ERROR, "m", cluster="cluster-1",
                 obj=ObjectRef("v1", "Namespace", "", "istio-apps"))
    assert waiver(object="Namespace/istio-apps").matches(ns)
    assert not waiver(object="*/*/istio-apps").matches(ns)


def test_valid_through_the_expiry_day() -> None:
    f = url_finding()
    assert waivers.apply([f], [waiver(cluster="cluster-1")], date(2026, 1, 31)) == []
    assert f.waived == "known"


def test_expired_waiver_waives_nothing_and_is_an_error() -> None:
    f = url_finding()
    extra = waivers.apply([f], [waiver(cluster="cluster-1", object="ConfigMap/*")], date(2026, 2, 1))
    assert f.waived is None
    assert len(extra) == 1
    e = extra[0]
    assert (e.rule, e.severity, e.location) == (
        "waiver-expired", Severity.ERROR, SourceLocation("policies/waivers.yaml", 3, 3))
    assert e.message == ("waiver for duplicate-object (cluster cluster-1, object ConfigMap/*) expired on "
                         "2026-01-31; the 1 finding it covered count again")
    assert e.fix == waivers.WAIVER_EXPIRED.fix


def test_expired_and_matching_nothing() -> None:
    extra = waivers.apply([], [waiver(path="base/*")], date(2026, 3, 1))
    assert [e.message for e in extra] == [
        "waiver for duplicate-object (path base/*) expired on 2026-01-31; it matches no finding any more"]


def test_unused_waiver_is_a_warning() -> None:
    extra = waivers.apply([url_finding()], [waiver(cluster="cluster-9")], TODAY)
    assert [(e.rule, e.severity, str(e.location), e.message) for e in extra] == [(
        "waiver-unused", Severity.WARNING, "policies/waivers.yaml:3:3",
        "waiver for duplicate-object (cluster cluster-9) matches no finding; it is stale or its target has a typo")]


def test_first_waiver_gives_the_reason_and_both_are_used() -> None:
    f = url_finding()
    first, second = waiver(cluster="cluster-1"), waiver(path="overlays/*")
    assert waivers.apply([f], [first, second], TODAY) == []
    assert f.waived == "known"


def test_end_to_end_from_the_file(repo: Path) -> None:
    write(repo, waivers.WAIVERS_FILE, """\
- rule: duplicate-object
  target:
    path: overlays/cluster-1/producer-url.yaml
  reason: Accepted for the demo.
  expires: 2026-12-31
""")
    f = url_finding()
    assert waivers.apply([f], waivers.load(repo), TODAY) == []
    assert f.waived == "Accepted for the demo."


@pytest.mark.parametrize("text, line, message", [
    ("rule: x\n", 1, "expected a list of waivers (write [] for none)"),
    ("- rule: duplicate-object\n  target: {cluster: a}\n  expires: 2026-01-01\n", 1,
     "a waiver is missing required field 'reason'"),
    ("- rule: duplicate-object\n  target: {cluster: a}\n  reason: ''\n  expires: 2026-01-01\n", 3,
     "'reason' must be a non-empty string"),
    ("- rule: duplicate-object\n  target: {cluster: a}\n  reason: r\n", 1,
     "a waiver is missing required field 'expires' (a date, YYYY-MM-DD)"),
    ("- rule: duplicate-object\n  target: {cluster: a}\n  reason: r\n  expires: next year\n", 4,
     "'expires' must be a date written YYYY-MM-DD"),
    ("- rule: duplicate-object\n  target: {cluster: a}\n  reason: r\n  expires: \"2026-02-30\"\n", 4,
     "'expires' is not a real date: '2026-02-30'"),
    ("- rule: duplicate-object\n  reason: r\n  expires: 2026-01-01\n", 1,
     "a waiver is missing required field 'target' (use cluster: \"*\" to waive a rule everywhere)"),
    ("- rule: duplicate-object\n  target: {}\n  reason: r\n  expires: 2026-01-01\n", 2,
     "'target' needs at least one of: cluster, object, path"),
    ("- rule: duplicate-object\n  target:\n    namespace: x\n  reason: r\n  expires: 2026-01-01\n", 3,
     "unknown field 'namespace' in 'target'; expected: cluster, object, path"),
    ("- rule: duplicate-object\n  target: {cluster: a}\n  reason: r\n  expire: 2026-01-01\n", 4,
     "unknown field 'expire' in a waiver; expected: rule, target, reason, expires"),
    ("- rule: duplicate-objects\n  target: {cluster: a}\n  reason: r\n  expires: 2026-01-01\n", 1,
     "waiver names unknown rule 'duplicate-objects'; did you mean duplicate-object?"),
    ("- ok\n", 1, "a waiver must be a mapping with fields: rule, target, reason, expires"),
])
def test_malformed_entries_name_file_and_line(repo: Path, text: str, line: int, message: str) -> None:
    write(repo, waivers.WAIVERS_FILE, text)
    with pytest.raises(InputError) as err:
        waivers.load(repo, ["duplicate-object"])
    assert (err.value.file, err.value.line, err.value.message) == ("policies/waivers.yaml", line, message)


def test_malformed_yaml_names_the_line(repo: Path) -> None:
    write(repo, waivers.WAIVERS_FILE, "- rule: duplicate-object\n  target: {cluster: *}\n")
    with pytest.raises(InputError) as err:
        waivers.load(repo)
    assert (err.value.file, err.value.line) == ("policies/waivers.yaml", 2)


def test_rule_metadata_for_list_policies() -> None:
    assert [(r.id, r.severity) for r in waivers.RULES] == [
        ("waiver-expired", Severity.ERROR), ("waiver-unused", Severity.WARNING)]
    assert all(r.summary and r.rationale and r.fix for r in waivers.RULES)
    assert not {r.id for r in waivers.RULES} & {p.id for p in REGISTRY}
