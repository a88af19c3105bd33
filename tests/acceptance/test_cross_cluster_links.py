"""Issue 4's promise: break any cross-cluster link with a one-line edit, and validate fails at that line."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import edit
from gitops import cli

URL = "overlays/cluster-1/producer-url.yaml"
LINKS = [
    pytest.param(URL, "http://sample-producer.istio", "http://sample-produce.istio",
                 "mcs-clusterset-url-resolves", id="caller-url-host"),
    pytest.param(URL, "clusterset.local:8080", "clusterset.local:8443",
                 "mcs-clusterset-url-resolves", id="caller-url-port"),
    pytest.param(URL, "svc.clusterset.local", "svc.cluster.local",
                 "mcs-local-name-not-served", id="caller-uses-local-name"),
    pytest.param("base/producer/service.yaml", "      port: 8080", "      port: 9090",
                 "mcs-clusterset-url-resolves", id="producer-service-port"),
    pytest.param("components/export-gke/serviceexport.yaml", "  name: sample-producer", "  name: sample-producr",
                 "mcs-export-has-service", id="export-name"),
    pytest.param("components/export-gke/serviceexport.yaml", "apiVersion: net.gke.io/v1",
                 "apiVersion: multicluster.x-k8s.io/v1alpha1", "mcs-export-api-version", id="export-api-group"),
    pytest.param("base/producer/service.yaml", "      targetPort: http", "      targetPort: grpc",
                 "service-target-port", id="producer-target-port"),
]


def _line_of(root: Path, rel: str, text: str) -> int:
    return next(i for i, line in enumerate((root / rel).read_text().splitlines(), 1) if text in line)


@pytest.mark.parametrize(("rel", "old", "new", "rule"), LINKS)
def test_one_line_edit_fails_at_the_edited_line(repo: Path, capsys, rel: str, old: str, new: str,
                                                rule: str) -> None:
    cli.main(["--root", str(repo), "render"])
    edit(repo, rel, old, new)
    line = _line_of(repo, rel, new)
    capsys.readouterr()
    assert cli.main(["--root", str(repo), "validate", "--format", "json"]) == 1
    findings = [f for f in json.loads(capsys.readouterr().out)["findings"] if f["rule"] == rule]
    places = {(loc["path"], loc["line"]) for f in findings for loc in [f["location"], *f["related"]] if loc}
    assert (rel, line) in places, (rule, places)
