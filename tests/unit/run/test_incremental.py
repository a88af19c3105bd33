"""`validate --changed-since REF`: which overlays are rebuilt, and that the clusterset view stays whole."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from conftest import edit, write
from gitops.run import context
from gitops import cli
from gitops.scaffold import fleetgen
from gitops.run import render as hydrate, inputs as incremental, pipeline
from gitops.infra import inventoryfile as inventory
from gitops.run.stages import parse as manifests
from gitops.model.errors import InputError
from gitops.infra.kustomizations import Closures
from policies import REGISTRY

CLUSTERS, SERVICES = 4, 3
PLANS = fleetgen.plan(CLUSTERS, SERVICES)


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=test", "-c", "user.email=test@example.com", *args],
                   cwd=root, check=True, capture_output=True)


@pytest.fixture
def fleet(tmp_path: Path) -> Path:
    """A generated fleet, rendered and committed in its own git repository."""
    root = tmp_path / "fleet"
    fleetgen.generate(root, CLUSTERS, SERVICES)
    assert cli.main(["--root", str(root), "render"]) == 0
    _git(root, "init", "-q")
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "fleet")
    return root


def _rebuilt(root: Path) -> set[str]:
    return incremental.select(inventory.load(root), root, incremental.changed_files(root, "HEAD"),
                              Closures(root))


def test_nothing_changed_rebuilds_nothing(fleet: Path) -> None:
    assert _rebuilt(fleet) == set()


def test_a_base_change_rebuilds_every_overlay_that_uses_it(fleet: Path) -> None:
    svc = next(s for s in PLANS[0].services if 1 < sum(s in p.services for p in PLANS) < CLUSTERS)
    edit(fleet, f"base/{svc.name}/configmap.yaml", "LOG_LEVEL: info", "LOG_LEVEL: debug")
    assert _rebuilt(fleet) == {p.name for p in PLANS if svc in p.services}


def test_a_change_in_one_overlay_rebuilds_only_that_one(fleet: Path) -> None:
    caller = next(iter(PLANS[1].calls))
    edit(fleet, f"overlays/cluster-2/{caller}-upstreams.yaml", "\ndata:\n", "\ndata:\n  TIMEOUT: 5s\n")
    assert _rebuilt(fleet) == {"cluster-2"}


def test_an_untracked_file_counts_as_changed(fleet: Path) -> None:
    write(fleet, "overlays/cluster-3/extra.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\n")
    edit(fleet, "overlays/cluster-3/kustomization.yaml", "resources:\n", "resources:\n  - extra.yaml\n")
    _git(fleet, "add", "overlays/cluster-3/kustomization.yaml")
    _git(fleet, "commit", "-q", "-m", "wire extra.yaml")
    assert "overlays/cluster-3/extra.yaml" in incremental.changed_files(fleet, "HEAD")
    assert _rebuilt(fleet) == {"cluster-3"}


def test_a_file_only_a_transformer_config_names_counts_whatever_its_folder(fleet: Path) -> None:
    """A patch in overlays/cluster-2/.nox/ read through a transformer's config: not in the kustomization closure,
    but under a kustomization's folder, where the build can read it; the folder's name does not matter."""
    write(fleet, "overlays/cluster-2/.nox/patch.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n")
    assert _rebuilt(fleet) == {"cluster-2"}


def test_a_change_at_a_links_real_path_counts(fleet: Path) -> None:
    """git lists a file at its real path; the build reads it through a folder link, the closure names the link."""
    write(fleet, "shared/extra/kustomization.yaml", "resources:\n  - configmap.yaml\n")
    write(fleet, "shared/extra/configmap.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\n")
    (fleet / "overlays/cluster-3/extra").symlink_to("../../shared/extra")
    edit(fleet, "overlays/cluster-3/kustomization.yaml", "resources:\n", "resources:\n  - extra\n")
    _git(fleet, "add", "-A")
    _git(fleet, "commit", "-q", "-m", "a folder through a link")
    edit(fleet, "shared/extra/configmap.yaml", "name: extra", "name: changed")
    assert incremental.changed_files(fleet, "HEAD") == {"shared/extra/configmap.yaml"}
    assert _rebuilt(fleet) == {"cluster-3"}


def test_an_inventory_change_rebuilds_all(fleet: Path) -> None:
    edit(fleet, "inventory.yaml", "location: us-east1", "location: us-east4")
    assert _rebuilt(fleet) == {p.name for p in PLANS}


def test_a_hand_edit_of_a_rendered_file_rebuilds_its_cluster(fleet: Path) -> None:
    rendered = next((fleet / "clusters/cluster-4").rglob("configmap-*.yaml"))
    rendered.write_text(rendered.read_text() + "# edited by hand\n")
    assert _rebuilt(fleet) == {"cluster-4"}


@pytest.mark.slow
def test_the_cross_cluster_view_still_holds_every_cluster(fleet: Path) -> None:
    full = pipeline.validate(fleet, REGISTRY, context.Options())
    caller = next(iter(PLANS[1].calls))
    edit(fleet, f"overlays/cluster-2/{caller}-upstreams.yaml", "\ndata:\n", "\ndata:\n  TIMEOUT: 5s\n")
    result = pipeline.validate(fleet, REGISTRY, context.Options(changed_since="HEAD"))
    assert set(result.resources) == set(full.resources)
    for cluster, items in full.resources.items():
        assert {r.ref for r in result.resources[cluster]} == {r.ref for r in items}
    assert result.rebuilt == {"cluster-2"}
    # The edited caller still resolves its clusterset.local URLs against exports of clusters not rebuilt;
    # the only finding is that cluster-2's rendered ConfigMap is now stale.
    assert [(f.rule, f.cluster) for f in result.findings] == [("rendered-up-to-date", "cluster-2")]
    namespace = next(s.namespace for s in PLANS[1].services if s.name == caller)
    assert result.findings[0].location.path == f"clusters/cluster-2/{namespace}/configmap-{caller}-config.yaml"


def test_a_broken_export_is_reported_in_the_calling_cluster_that_was_not_rebuilt(fleet: Path) -> None:
    plan = next(p for p in PLANS if any(s.exported for s in p.services))
    svc = next(s for s in plan.services if s.exported)
    exporters = [p.name for p in PLANS if svc in p.services]
    callers = {p.name for p in PLANS for targets in p.calls.values() if svc in targets}
    assert callers
    for name in exporters:
        edit(fleet, f"overlays/{name}/kustomization.yaml", f"  - ../../components/export-gke/{svc.name}\n", "")
    result = pipeline.validate(fleet, REGISTRY, context.Options(changed_since="HEAD", check_stale=False))
    unresolved = {f.cluster for f in result.findings if f.rule == "mcs-clusterset-url-resolves"}
    assert unresolved == callers
    assert callers - set(exporters)  # at least one reporting cluster was read from clusters/, not rebuilt
    located = [f for f in result.findings if f.rule == "mcs-clusterset-url-resolves" and f.cluster not in exporters]
    # Not rebuilt, yet the finding points at the overlay line a person edits (from an annotated build).
    assert all(f.location and f.location.path.startswith(f"overlays/{f.cluster}/") for f in located)


def test_a_bad_ref_is_a_usage_error(fleet: Path, capsys) -> None:
    assert cli.main(["--root", str(fleet), "validate", "--changed-since", "no-such-ref"]) == 2
    assert "--changed-since" in capsys.readouterr().err


def test_committed_objects_read_back_as_render_wrote_them(repo: Path) -> None:
    """Reading clusters/<name>/ gives the objects the overlay builds; shared text shares one parse."""
    inv, resources = pipeline.build(repo)
    hydrate.write(repo, hydrate.expected_files(inv, resources))
    documents = manifests.Documents()
    committed = {c: incremental.load_committed(repo, c, documents) for c in ("cluster-1", "cluster-2")}
    for cluster, items in committed.items():
        assert sorted((str(r.ref), r.text) for r in items) == sorted((str(r.ref), r.text) for r in resources[cluster])
        assert all(r.cluster == cluster for r in items)
    (ns1,), (ns2,) = ([r for r in committed[c] if r.kind == "Namespace"] for c in ("cluster-1", "cluster-2"))
    assert ns1.body is ns2.body  # the same namespace in both clusters: parsed once
    # A hand edit is what is read back.
    edited = repo / "clusters/cluster-1/istio-apps/configmap-sample-caller-config.yaml"
    edited.write_text(edited.read_text().replace(":8080", ":9090"))
    (config,) = [r for r in incremental.load_committed(repo, "cluster-1", documents) if r.kind == "ConfigMap"]
    assert config.body["data"]["PRODUCER_URL"].endswith(":9090")


def test_a_malformed_committed_file_names_its_line(repo: Path) -> None:
    inv, resources = pipeline.build(repo)
    hydrate.write(repo, hydrate.expected_files(inv, resources))
    broken = repo / "clusters/cluster-1/istio-apps/configmap-sample-caller-config.yaml"
    broken.write_text(broken.read_text().replace("kind: ConfigMap\n", "kind: ConfigMap\n\tteam: a\n"))
    with pytest.raises(InputError) as err:
        incremental.load_committed(repo, "cluster-1", manifests.Documents())
    assert err.value.file == "clusters/cluster-1/istio-apps/configmap-sample-caller-config.yaml"
    assert err.value.line == broken.read_text().splitlines().index("\tteam: a") + 1
    assert str(err.value).startswith(f"{err.value.file}:{err.value.line}: not one YAML object: ")


