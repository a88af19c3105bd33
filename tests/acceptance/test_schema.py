"""Schema stage: strict kubeconform over every rendered object, offline schemas, CRDs by hash."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from conftest import SHARED_CRDS, edit, write
from gitops import cli
from gitops.infra import crds
from gitops.model.errors import InputError, ToolError


def _validate_json(repo: Path, capsys) -> tuple[int, list[dict]]:
    cli.main(["--root", str(repo), "render"])
    capsys.readouterr()
    code = cli.main(["--root", str(repo), "validate", "--format", "json"])
    return code, json.loads(capsys.readouterr().out)["findings"]


def test_repository_has_no_schema_findings(repo: Path, capsys) -> None:
    code, findings = _validate_json(repo, capsys)
    assert [f for f in findings if f["rule"].startswith("schema")] == []


def test_unknown_field_names_cluster_object_field_and_line(repo: Path, capsys) -> None:
    edit(repo, "base/producer/deployment.yaml", "          imagePullPolicy: IfNotPresent\n",
         "          imagePullPolicy: IfNotPresent\n          imagePullSecret: regcred\n")
    cli.main(["--root", str(repo), "render"])
    capsys.readouterr()
    assert cli.main(["--root", str(repo), "validate", "--format", "json"]) == 1
    findings = [f for f in json.loads(capsys.readouterr().out)["findings"] if f["rule"] == "schema"]
    assert len(findings) == 1
    f = findings[0]
    assert f["message"] == ("Deployment istio-apps/sample-producer-v1 in cluster cluster-2: "
                            "spec.template.spec.containers[0]: additional properties 'imagePullSecret' not allowed")
    assert f["cluster"] == "cluster-2"
    assert f["location"] == {"path": "base/producer/deployment.yaml", "line": 33, "column": 11}


def test_an_object_every_cluster_receives_is_reported_in_every_cluster(repo: Path, capsys) -> None:
    """The same document is validated once (schemacheck) and parsed once (manifests.Documents), yet
    each cluster that receives it gets its own finding."""
    edit(repo, "base/namespace/namespace.yaml", "  name: istio-apps\n", "  name: istio-apps\n  owner: team-a\n")
    code, findings = _validate_json(repo, capsys)
    assert code == 1
    schema = sorted((f["cluster"], f["message"], f["location"]["path"], f["location"]["line"])
                    for f in findings if f["rule"] == "schema")
    assert schema == [(c, f"Namespace istio-apps in cluster {c}: metadata: additional properties 'owner' not allowed",
                       "base/namespace/namespace.yaml", 7) for c in ("cluster-1", "cluster-2")]


def test_wrong_type_points_at_the_field(repo: Path, capsys) -> None:
    edit(repo, "base/caller/deployment.yaml", "  replicas: 1\n", "  replicas: one\n")
    code, findings = _validate_json(repo, capsys)
    assert code == 1
    (f,) = [f for f in findings if f["rule"] == "schema"]
    assert f["message"] == ("Deployment istio-apps/sample-caller-v1 in cluster cluster-1: spec.replicas: "
                            "got string, want null or integer")
    assert (f["location"]["path"], f["location"]["line"]) == ("base/caller/deployment.yaml", 9)


def test_crd_field_is_checked_strictly(repo: Path, capsys) -> None:
    edit(repo, "overlays/cluster-1/httproute.yaml", "      sectionName: http\n", "      sectionNmae: http\n")
    code, findings = _validate_json(repo, capsys)
    assert code == 1
    (f,) = [f for f in findings if f["rule"] == "schema"]
    assert f["message"].startswith("HTTPRoute istio-apps/sample-caller-ui in cluster cluster-1: spec.parentRefs[0]:")
    assert "sectionNmae" in f["message"]
    assert (f["location"]["path"], f["location"]["line"]) == ("overlays/cluster-1/httproute.yaml", 9)


def test_gke_serviceexport_schema_is_strict(repo: Path, capsys) -> None:
    write(repo, "components/export-gke/serviceexport.yaml",
          "apiVersion: net.gke.io/v1\nkind: ServiceExport\nmetadata:\n  name: sample-producer\n"
          "  namespace: istio-apps\nspec:\n  exportedLabels: {a: b}\n")
    code, findings = _validate_json(repo, capsys)
    (f,) = [f for f in findings if f["rule"] == "schema"]
    assert "additional properties 'spec' not allowed" in f["message"]
    assert f["location"]["path"] == "components/export-gke/serviceexport.yaml"


def test_unknown_kind_is_an_error_not_a_skip(repo: Path, capsys) -> None:
    edit(repo, "components/export-gke/serviceexport.yaml", "apiVersion: net.gke.io/v1",
         "apiVersion: multicluster.k8s.io/v1alpha1")
    code, findings = _validate_json(repo, capsys)
    assert code == 1
    (f,) = [f for f in findings if f["rule"] == "schema-unknown-kind"]
    assert f["message"] == ("no schema for multicluster.k8s.io/v1alpha1 ServiceExport in cluster cluster-2: "
                            "not a Kubernetes kind of this version, a locked CRD, or a schema under schemas/")
    assert (f["location"]["path"], f["location"]["line"]) == ("components/export-gke/serviceexport.yaml", 2)


def test_crd_conversion_is_strict_and_keeps_open_fields() -> None:
    schemas = crds.convert((SHARED_CRDS / "multicluster.x-k8s.io_serviceexports.yaml").read_bytes(), "x")
    assert set(schemas) == {"multicluster.x-k8s.io/serviceexport_v1alpha1.json",
                            "multicluster.x-k8s.io/serviceexport_v1beta1.json"}
    schema = schemas["multicluster.x-k8s.io/serviceexport_v1alpha1.json"]
    assert schema["additionalProperties"] is False
    assert schema["properties"]["apiVersion"]["enum"] == ["multicluster.x-k8s.io/v1alpha1"]


def test_crd_hash_mismatch_is_an_error(repo: Path, tmp_path: Path) -> None:
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    for f in SHARED_CRDS.glob("*.yaml"):
        (mirror / f.name).write_bytes(f.read_bytes())
    (mirror / "argoproj.io_appprojects.yaml").write_bytes(b"tampered\n")
    lock = crds.load_lock(repo)
    crd = next(c for c in lock.crds if c.name == "argoproj.io_appprojects.yaml")
    with pytest.raises(InputError) as err:
        crds.fetch(crd, repo, tmp_path / "cache", str(mirror))
    digest = hashlib.sha256(b"tampered\n").hexdigest()
    assert str(err.value) == (f"crds.lock.yaml:{crd.line}: argoproj.io_appprojects.yaml from "
                              f"{mirror}/argoproj.io_appprojects.yaml has sha256 {digest}, but the lock says {crd.sha256}")


def test_crd_unreachable_names_what_was_tried(repo: Path, tmp_path: Path) -> None:
    lock = crds.load_lock(repo)
    crd = lock.crds[0]
    offline = crds.LockedCRD(crd.name, "file:///nonexistent/" + crd.name, crd.sha256, crd.line)
    with pytest.raises(ToolError) as err:
        crds.fetch(offline, repo, tmp_path / "cache", str(tmp_path / "empty"))
    assert f"cannot fetch {crd.name}; tried {tmp_path}/empty/{crd.name}, file:///nonexistent/" in str(err.value)


def test_file_url_mirror_serves_crds(repo: Path, tmp_path: Path) -> None:
    lock = crds.load_lock(repo)
    data = crds.fetch(lock.crds[0], repo, tmp_path / "cache", SHARED_CRDS.as_uri())
    assert hashlib.sha256(data).hexdigest() == lock.crds[0].sha256


@pytest.mark.parametrize(("old", "new", "expected"), [
    ("    sha256: 1ec6ffc8094c8f67434431737b9c1d5132e686f21577250a615ed1e30da67097",
     "    sha256: 1ec6ffc8",
     "crds.lock.yaml:9:13: 'sha256' value '1ec6ffc8' does not match ^[0-9a-fA-F]{64}$"),
    ("    url: https://raw.githubusercontent.com/kubernetes-sigs/mcs-api/v0.5.0/config/crd/"
     "multicluster.x-k8s.io_serviceexports.yaml",
     "    uri: https://example.com/x.yaml",
     "crds.lock.yaml:8:5: unknown field 'uri' in a locked CRD; expected: name, url, sha256"),
])
def test_malformed_lock_file_names_the_line(repo: Path, old: str, new: str, expected: str) -> None:
    edit(repo, "crds.lock.yaml", old, new)
    with pytest.raises(InputError) as err:
        crds.load_lock(repo)
    assert str(err.value) == expected
