"""The fleet generator: the shape of what it writes, determinism, and that its output validates clean."""
from __future__ import annotations

from pathlib import Path

from gitops.run import context
from gitops import cli
from gitops.scaffold import fleetgen
from gitops.infra import inventoryfile as inventory
from gitops.run import pipeline
from gitops.model.findings import Severity
from policies import REGISTRY


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_structure(tmp_path: Path) -> None:
    fleetgen.generate(tmp_path, clusters=4, services=5, clustersets=2)
    inv = inventory.load(tmp_path)
    assert [c.name for c in inv.clusters] == ["cluster-1", "cluster-2", "cluster-3", "cluster-4"]
    assert [s.name for s in inv.clustersets] == ["fleet-1", "fleet-2"]
    assert {c.mcs for c in inv.clusters} == {"gke", "mcs-api"}
    for plan in fleetgen.plan(4, 5, 2):
        kustomization = (tmp_path / plan.overlay / "kustomization.yaml").read_text()
        assert kustomization.count("../../base/") == 5 + 1  # every service plus the namespaces
        for svc in plan.services:
            assert (tmp_path / "base" / svc.name / "deployment.yaml").is_file()
            if svc.exported:
                assert f"../../components/export-{plan.mcs}/{svc.name}\n" in kustomization
        for caller, targets in plan.calls.items():
            patch = (tmp_path / plan.overlay / f"{caller}-upstreams.yaml").read_text()
            for target in targets:
                assert f"{target.env_key}: http://{target.name}.{target.namespace}.svc.clusterset.local:8080" in patch
                assert target not in plan.services
    assert (tmp_path / "schemas/net.gke.io/serviceexport_v1.json").is_file()
    assert (tmp_path / "crds.lock.yaml").is_file()


def test_calls_reach_an_exporter_in_the_same_clusterset() -> None:
    plans = fleetgen.plan(6, 8, 2)
    assert any(p.calls for p in plans)
    for p in plans:
        for targets in p.calls.values():
            for target in targets:
                assert target.exported
                assert any(target in q.services for q in plans if q.clusterset == p.clusterset and q is not p)


def test_same_arguments_give_a_byte_identical_tree(tmp_path: Path) -> None:
    fleetgen.generate(tmp_path / "a", clusters=5, services=4, clustersets=2)
    fleetgen.generate(tmp_path / "b", clusters=5, services=4, clustersets=2)
    assert _tree(tmp_path / "a") == _tree(tmp_path / "b")
    fleetgen.generate(tmp_path / "c", clusters=5, services=3, clustersets=2)
    assert _tree(tmp_path / "a") != _tree(tmp_path / "c")


def test_a_small_fleet_validates_clean(tmp_path: Path, capsys) -> None:
    fleetgen.generate(tmp_path, clusters=3, services=3)
    assert cli.main(["--root", str(tmp_path), "render"]) == 0
    result = pipeline.validate(tmp_path, REGISTRY, context.Options())
    assert [f.message for f in result.findings if f.severity is Severity.ERROR] == []
    assert set(result.resources) == {"cluster-1", "cluster-2", "cluster-3"}
    capsys.readouterr()
    assert cli.main(["--root", str(tmp_path), "validate"]) == 0


def test_cluster_labels_make_every_document_distinct(tmp_path: Path) -> None:
    fleetgen.generate(tmp_path, clusters=3, services=3, cluster_labels=True)
    assert cli.main(["--root", str(tmp_path), "render"]) == 0
    result = pipeline.validate(tmp_path, REGISTRY, context.Options())
    assert [f.message for f in result.findings if f.severity is Severity.ERROR] == []
    for cluster, items in result.resources.items():
        assert {r.labels.get(fleetgen.CLUSTER_LABEL) for r in items} == {cluster}
    texts = [r.text for items in result.resources.values() for r in items]
    assert len(set(texts)) == len(texts)
