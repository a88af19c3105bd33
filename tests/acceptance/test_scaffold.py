"""`gitops new cluster|service|call`: edits that keep comments, trees that validate clean, refusals that write nothing."""
from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import yaml

from gitops import cli
from gitops.infra import inventoryfile as inventory
from gitops.model.errors import GitopsError

from conftest import tree as _tree, validate_clean as _validate


@pytest.mark.slow
def test_cluster_service_call_end_to_end(rendered: Path, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    root = rendered
    inventory_before = (root / "inventory.yaml").read_text()
    overlay_before = (root / "overlays/cluster-1/kustomization.yaml").read_text()
    monkeypatch.chdir(root / "overlays")  # the root is found upwards
    assert cli.main(["new", "cluster", "cluster-3", "--clusterset", "fleet-prod", "--location", "europe-west1",
                     "--mcs", "gke", "--sync", "config-sync", "--version", "1.34"]) == 0
    assert cli.main(["new", "service", "orders", "--namespace", "shop", "--cluster", "cluster-3", "--export",
                     "--port", "9090"]) == 0
    assert cli.main(["new", "call", "--from", "sample-caller", "--to", "orders", "--env", "ORDERS_URL"]) == 0
    capsys.readouterr()

    # inventory.yaml: every comment and line of the original kept, the entry appended as a person writes it
    inventory_after = (root / "inventory.yaml").read_text()
    assert inventory_after.startswith(inventory_before)
    assert inventory_after[len(inventory_before):] == (
        "  - name: cluster-3\n    clusterset: fleet-prod\n    location: europe-west1\n"
        '    kubernetesVersion: "1.34"\n    mcs: gke\n    sync: config-sync\n    overlay: overlays/cluster-3\n')
    inv = inventory.load(root)
    assert inv.cluster("cluster-3").kubernetes_version == "1.34"

    overlay = (root / "overlays/cluster-3/kustomization.yaml").read_text()
    assert yaml.safe_load(overlay) == {
        "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
        "resources": ["../../base/namespace-shop", "../../base/orders"],  # no namespace nothing runs in
        "components": ["../../components/export-gke-orders"]}
    export = yaml.safe_load((root / "clusters/cluster-3/shop/serviceexport-orders.yaml").read_text())
    assert export["apiVersion"] == "net.gke.io/v1"  # the cluster's MCS flavour

    caller_overlay = (root / "overlays/cluster-1/kustomization.yaml").read_text()
    assert caller_overlay.startswith(overlay_before.split("patches:")[0].rstrip("\n"))  # comments kept
    assert caller_overlay.splitlines()[0] == overlay_before.splitlines()[0]
    assert "  - path: sample-caller-calls-orders.yaml\n" in caller_overlay
    assert "  - ../../base/namespace-shop\n" in caller_overlay  # namespace sameness for the caller's cluster
    config = (root / "clusters/cluster-1/istio-apps/configmap-sample-caller-config.yaml").read_text()
    assert "ORDERS_URL: http://orders.shop.svc.clusterset.local:9090" in config  # the key beside PRODUCER_URL
    assert (root / "bootstrap/config-sync/cluster-3/rootsync-gitops.yaml").is_file()
    _validate(root, capsys)


def test_new_argocd_cluster_validates_clean(rendered: Path, capsys) -> None:
    assert cli.main(["new", "cluster", "edge-1", "--root", str(rendered), "--clusterset", "fleet-edge",
                     "--location", "us-west1", "--mcs", "gke", "--sync", "argocd"]) == 0
    inv = inventory.load(rendered)
    assert [s.name for s in inv.clustersets] == ["fleet-prod", "fleet-edge"]
    assert inv.cluster("edge-1").kubernetes_version == "1.33"  # the newest in the inventory
    appproject = (rendered / "bootstrap/argocd/appproject-mcs-fleet.yaml").read_text()
    assert "name: edge-1" in appproject
    _validate(rendered, capsys)


def test_new_service_without_export_reuses_the_namespace_base(rendered: Path, capsys) -> None:
    assert cli.main(["--root", str(rendered), "new", "service", "billing", "--namespace", "istio-apps",
                     "--cluster", "cluster-2"]) == 0
    assert not (rendered / "base/namespace-istio-apps").exists()
    assert not list(rendered.glob("components/*billing*"))
    assert (rendered / "clusters/cluster-2/istio-apps/deployment-billing-v1.yaml").is_file()
    overlay = (rendered / "overlays/cluster-2/kustomization.yaml").read_text()
    assert overlay.startswith("# Cluster 2 runs the producer and exports it to the clusterset.\n")
    assert overlay.count("../../base/namespace\n") == 1
    _validate(rendered, capsys)



def test_new_service_reads_no_base_file_through_a_link_out_of_the_repository(rendered: Path, tmp_path: Path,
                                                                               capsys) -> None:
    """A base file that is a link to a file outside the repository is never read, so a Namespace declared
    there does not count: the service gets a namespace base of its own."""
    outside = tmp_path / "outside.yaml"
    outside.write_text("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n")
    (rendered / "base/aaa-linked").mkdir()
    (rendered / "base/aaa-linked/namespace.yaml").symlink_to(outside)
    assert cli.main(["--root", str(rendered), "new", "service", "orders", "--namespace", "shop",
                     "--cluster", "cluster-2"]) == 0
    capsys.readouterr()
    overlay = (rendered / "overlays/cluster-2/kustomization.yaml").read_text()
    assert "../../base/namespace-shop\n" in overlay
    assert "aaa-linked" not in overlay


REFUSALS = [
    pytest.param(["new", "cluster", "cluster-1", "--clusterset", "fleet-prod", "--location", "x", "--mcs", "gke",
                  "--sync", "argocd"], "cluster 'cluster-1' already exists (inventory.yaml:", id="cluster-exists"),
    pytest.param(["new", "cluster", "Cluster_3", "--clusterset", "fleet-prod", "--location", "x", "--mcs", "gke",
                  "--sync", "argocd"], "cluster 'Cluster_3' is not a valid name", id="cluster-invalid"),
    pytest.param(["new", "cluster", "cluster-3", "--clusterset", "fleet-prod", "--location", "x", "--mcs", "gke",
                  "--sync", "argocd", "--version", "1.x"], "--version '1.x' is not a Kubernetes minor",
                 id="cluster-bad-version"),
    pytest.param(["new", "cluster", "cluster-3", "--clusterset", "fleet-prod", "--location", "x\nresources: [/etc]",
                  "--mcs", "gke", "--sync", "argocd"], "--location 'x\\nresources: [/etc]' is not a region",
                 id="cluster-location-injection"),
    pytest.param(["new", "cluster", "cluster-3\n", "--clusterset", "fleet-prod", "--location", "x", "--mcs", "gke",
                  "--sync", "argocd"], "cluster 'cluster-3\\n' is not a valid name", id="cluster-trailing-newline"),
    pytest.param(["new", "cluster", "cluster-3", "--clusterset", "fleet-prod", "--location", "x", "--mcs", "mcs-api",
                  "--sync", "argocd"], "clusterset fleet-prod runs MCS gke; a --mcs mcs-api cluster", id="cluster-mcs-mixed"),
    pytest.param(["new", "service", "orders", "--namespace", "shop", "--cluster", "cluster-2", "--image",
                  "app:1.0\n      privileged: true"], "is not an image reference", id="service-image-injection"),
    pytest.param(["new", "service", "sample-producer", "--namespace", "istio-apps", "--cluster", "cluster-2"],
                 "service 'sample-producer'", id="service-invalid-or-exists"),
    pytest.param(["new", "service", "producer", "--namespace", "istio-apps", "--cluster", "cluster-2"],
                 "base/producer/ already exists", id="service-exists"),
    pytest.param(["new", "service", "9lives", "--namespace", "istio-apps", "--cluster", "cluster-2"],
                 "service '9lives' is not a valid name", id="service-invalid"),
    pytest.param(["new", "service", "orders", "--namespace", "default", "--cluster", "cluster-2"],
                 "namespace 'default' is shared", id="service-default-namespace"),
    pytest.param(["new", "service", "orders", "--namespace", "shop", "--cluster", "cluster-9"],
                 "no cluster 'cluster-9' in inventory.yaml", id="service-unknown-cluster"),
    pytest.param(["new", "service", "orders", "--namespace", "shop", "--cluster", "cluster-2", "--image", "x:latest"],
                 "is not pinned", id="service-floating-image"),
    pytest.param(["new", "call", "--from", "sample-caller", "--to", "nowhere"],
                 "no cluster of clusterset fleet-prod exports a Service 'nowhere'", id="call-unexported"),
    pytest.param(["new", "call", "--from", "ghost", "--to", "sample-producer"],
                 "no Deployment named 'ghost'", id="call-unknown-caller"),
]


@pytest.mark.parametrize(("argv", "message"), REFUSALS)
def test_refusals_exit_2_and_write_nothing(rendered: Path, capsys, argv: list[str], message: str) -> None:
    before = _tree(rendered)
    assert cli.main(["--root", str(rendered), *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err, err
    assert "Traceback" not in err
    assert _tree(rendered) == before


def test_a_second_call_is_refused(rendered: Path, capsys) -> None:
    assert cli.main(["--root", str(rendered), "new", "service", "orders", "--namespace", "istio-apps",
                     "--cluster", "cluster-2", "--export"]) == 0
    call = ["--root", str(rendered), "new", "call", "--from", "sample-caller", "--to", "orders", "--env", "ORDERS_URL"]
    assert cli.main(call) == 0
    before = _tree(rendered)
    capsys.readouterr()
    assert cli.main(call) == 2
    assert "already calls orders through its clusterset.local name (ConfigMap istio-apps/sample-caller-config key " \
           "ORDERS_URL)" in capsys.readouterr().err
    assert _tree(rendered) == before
    _validate(rendered, capsys)


def test_a_failed_render_puts_every_file_back(rendered: Path, capsys) -> None:
    """`new service` whose base kustomize cannot build: the render fails (exit 2) and nothing stays written."""
    from gitops.scaffold import new as scaffold

    before = _tree(rendered)
    plan = {"overlays/cluster-2/kustomization.yaml": "resources:\n  - ../../base/broken\n",
            "base/broken/kustomization.yaml": "resources:\n  - missing.yaml\n"}
    code = cli.main(["--root", str(rendered), "render"])  # sanity: the tree renders before
    assert code == 0
    with pytest.raises(GitopsError) as err:
        scaffold.apply(rendered, plan, lambda: cli.render.run(rendered, argparse.Namespace(kustomize_cli=False)))
    assert "missing.yaml" in str(err.value)
    assert _tree(rendered) == before
    assert not (rendered / "base/broken").exists()


NEW_CLUSTER = ["new", "cluster", "cluster-3", "--clusterset", "fleet-prod", "--location", "europe-west1",
               "--mcs", "gke", "--sync", "config-sync", "--version", "1.34"]


def test_sigterm_during_the_render_puts_every_file_back(rendered: Path) -> None:
    """A cancelled CI job or `timeout` stops `gitops new` with SIGTERM: as with Ctrl-C, the edit is undone
    (issue 19, item 13). Through the command line: the signal arrives once the edits are written."""
    import os
    import signal
    import subprocess
    import sys

    from conftest import PROJECT

    before = _tree(rendered)
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": f"{PROJECT / 'scripts'}{os.pathsep}{PROJECT}"}
    proc = subprocess.Popen([sys.executable, "-m", "gitops", "--root", str(rendered), *NEW_CLUSTER],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if line.startswith("created overlays/cluster-3/"):  # the last planned file: the render starts now
            proc.send_signal(signal.SIGTERM)
            break
    rest, err = proc.communicate(timeout=120)
    assert proc.returncode == 2, (seen, rest, err)
    assert _tree(rendered) == before, "the interrupted edit was left in place"
    assert not (rendered / "overlays/cluster-3").exists()


def test_line_endings_and_byte_order_mark_of_an_edited_file_are_kept(rendered: Path, capsys) -> None:
    inv = rendered / "inventory.yaml"
    inv.write_bytes(b"\xef\xbb\xbf" + inv.read_bytes().replace(b"\n", b"\r\n"))
    assert cli.main(["--root", str(rendered), *NEW_CLUSTER]) == 0, capsys.readouterr()
    data = inv.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf") and not data.startswith(b"\xef\xbb\xbf\xef\xbb\xbf")
    assert data.count(b"\n") == data.count(b"\r\n") and b"\r\r" not in data, "mixed line endings"
    assert b"  - name: cluster-3\r\n" in data
    assert [c.name for c in inventory.load(rendered).clusters][-1] == "cluster-3"
    # A file with plain newlines stays so.
    overlay = rendered / "overlays/cluster-1/kustomization.yaml"
    assert b"\r" not in overlay.read_bytes()
