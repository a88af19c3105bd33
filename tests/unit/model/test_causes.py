"""model/causes.py: which changed line causes which findings, and how a change is said."""
from __future__ import annotations

from gitops.model.causes import Change, ChangedLine, attribute, cluster_order, heading
from gitops.model.findings import Finding, Related, Severity, SourceLocation

PORT = ChangedLine("base/orders/service.yaml", 13, "      port: 8081", "      port: 8080")
CHANGE = Change("HEAD~1 (0123456789ab)", lines={PORT.path: {13: PORT}})


def _call(cluster: str, line: int = 8, severity: Severity = Severity.ERROR, waived: str | None = None) -> Finding:
    f = Finding("mcs-clusterset-url-resolves", severity, f"{cluster} calls orders", cluster,
                location=SourceLocation(f"overlays/{cluster}/urls.yaml", line, 3),
                related=(Related(SourceLocation(PORT.path, 13, 7), "Service storefront/orders port 8081"),))
    if waived:
        f.waive(waived)
    return f


def test_findings_that_point_at_the_changed_line_are_its_effect() -> None:
    route = Finding("route-backend-exists", Severity.ERROR, "route", "cluster-1",
                    location=SourceLocation("overlays/cluster-1/route.yaml", 17, 11),
                    related=(Related(SourceLocation(PORT.path, 13, 7), "port"),))
    other = Finding("image-pinned", Severity.WARNING, "image", "cluster-2", location=SourceLocation("base/x.yaml", 3, 1))
    findings = [_call("cluster-10"), _call("cluster-2"), route, other, _call("cluster-3", waived="ticket")]
    [cause], rest = attribute(findings, CHANGE)
    assert cause.location == SourceLocation(PORT.path, 13, 7)
    assert cause.calls == 2 and cause.clusters() == ["cluster-1", "cluster-2", "cluster-10"]
    assert cause.effect() == "breaks 2 calls and causes 1 route-backend-exists error, in 3 clusters"
    assert [f.rule for f in rest] == ["image-pinned", "mcs-clusterset-url-resolves"]  # a waived finding is no effect
    assert heading(CHANGE, [cause], 4) == ("causes in the change since HEAD~1 (0123456789ab): 1 changed line causes "
                                           "3 of 4 findings")


def test_no_change_known_no_causes() -> None:
    findings = [_call("cluster-1")]
    assert attribute(findings, None) == ([], findings)
    assert attribute(findings, Change(note="not a git repository")) == ([], findings)


def test_what_a_line_change_says_and_never_a_secret() -> None:
    assert PORT.what() == "port 8080 → 8081"
    assert ChangedLine("a.yaml", 1, "  image: a:2", None).what() == "added `image: a:2`"
    assert ChangedLine("a.yaml", 1, "", new_file=True).what() == "new file"
    secret = ChangedLine("a.yaml", 4, "  API_TOKEN: s3cr3t-new", "  API_TOKEN: s3cr3t-old")
    assert "s3cr3t" not in secret.what() and secret.what() == "API_TOKEN changed (a secret's value, not shown)"
    assert "s3cr3t" not in ChangedLine("a.yaml", 4, "  password: s3cr3t", None).what()
    assert ChangedLine("a.yaml", 4, "  port: 8081", "  name: http").what() == "`name: http` → `port: 8081`"


def test_clusters_in_natural_order() -> None:
    assert sorted(["cluster-10", "cluster-2", "edge-1", "cluster-1"], key=cluster_order) == [
        "cluster-1", "cluster-2", "cluster-10", "edge-1"]
