"""`gitops new call` and `new cluster` follow the repository's conventions, through the command line: an address
is patched where the caller already keeps it (a ConfigMap key, an env var) or written as a key of the ConfigMap the
caller reads; no variable is invented; a new cluster gets no namespace that nothing runs in."""
from __future__ import annotations

from pathlib import Path

import yaml

from gitops import cli

from conftest import tree as _tree, validate_clean as _clean


def _orders(root: Path, capsys) -> None:
    """An exported service `orders` (port 8080) in cluster-2, in the caller's namespace."""
    assert cli.main(["--root", str(root), "new", "service", "orders", "--namespace", "istio-apps", "--cluster",
                     "cluster-2", "--export"]) == 0
    capsys.readouterr()


def _refused(root: Path, capsys, *argv: str) -> str:
    before = _tree(root)
    assert cli.main(["--root", str(root), *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err
    assert _tree(root) == before
    return err


def test_the_configmap_key_the_caller_has_is_patched_in_place(rendered: Path, capsys) -> None:
    """Without cluster-1's own patch the caller reads the producer's in-cluster name from its ConfigMap: `new call`
    patches that key (no --env needed), and adds nothing to the Deployment."""
    overlay = rendered / "overlays/cluster-1/kustomization.yaml"
    overlay.write_text(overlay.read_text().replace("patches:\n  - path: producer-url.yaml\n", ""))
    (rendered / "overlays/cluster-1/producer-url.yaml").unlink()
    assert cli.main(["--root", str(rendered), "render"]) == 0
    deployment = (rendered / "clusters/cluster-1/istio-apps/deployment-sample-caller-v1.yaml").read_text()
    assert cli.main(["--root", str(rendered), "new", "call", "--from", "sample-caller", "--to", "sample-producer"]) == 0
    capsys.readouterr()
    patch = yaml.safe_load((rendered / "overlays/cluster-1/sample-caller-calls-sample-producer.yaml").read_text())
    assert patch == {"apiVersion": "v1", "kind": "ConfigMap",
                     "metadata": {"name": "sample-caller-config", "namespace": "istio-apps"},
                     "data": {"PRODUCER_URL": "http://sample-producer.istio-apps.svc.clusterset.local:8080"}}
    config = yaml.safe_load((rendered / "clusters/cluster-1/istio-apps/configmap-sample-caller-config.yaml").read_text())
    assert config["data"] == {"PRODUCER_URL": "http://sample-producer.istio-apps.svc.clusterset.local:8080"}
    assert (rendered / "clusters/cluster-1/istio-apps/deployment-sample-caller-v1.yaml").read_text() == deployment
    _clean(rendered, capsys)


def test_a_caller_already_on_the_clusterset_name_is_refused(rendered: Path, capsys) -> None:
    err = _refused(rendered, capsys, "new", "call", "--from", "sample-caller", "--to", "sample-producer")
    assert ("sample-caller-v1 in cluster-1 already calls sample-producer through its clusterset.local name "
            "(ConfigMap istio-apps/sample-caller-config key PRODUCER_URL)") in err


def test_no_variable_is_invented(rendered: Path, capsys) -> None:
    _orders(rendered, capsys)
    err = _refused(rendered, capsys, "new", "call", "--from", "sample-caller", "--to", "orders")
    assert "reads no address of orders" in err and "--env NAME, e.g. --env ORDERS_URL" in err
    err = _refused(rendered, capsys, "new", "call", "--from", "sample-caller", "--to", "orders", "--env", "1-bad")
    assert "--env '1-bad' is not an environment variable name" in err


def test_env_names_the_key_added_to_the_configmap_the_caller_reads(rendered: Path, capsys) -> None:
    _orders(rendered, capsys)
    assert cli.main(["--root", str(rendered), "new", "call", "--from", "sample-caller", "--to", "orders",
                     "--env", "ORDERS_URL"]) == 0
    capsys.readouterr()
    config = yaml.safe_load((rendered / "clusters/cluster-1/istio-apps/configmap-sample-caller-config.yaml").read_text())
    assert config["data"]["ORDERS_URL"] == "http://orders.istio-apps.svc.clusterset.local:8080"
    assert "PRODUCER_URL" in config["data"]
    deployment = (rendered / "clusters/cluster-1/istio-apps/deployment-sample-caller-v1.yaml").read_text()
    assert "ORDERS_URL" not in deployment  # read through the ConfigMap it takes whole, as PRODUCER_URL is
    _clean(rendered, capsys)


def test_an_env_var_the_caller_has_is_patched_in_place_keeping_its_path(rendered: Path, capsys) -> None:
    _orders(rendered, capsys)
    base = rendered / "base/caller/deployment.yaml"
    base.write_text(base.read_text().replace(
        "          envFrom:\n",
        "          env:\n            - name: BACKEND\n              value: http://orders.istio-apps:8080/api/v2\n"
        "          envFrom:\n"))
    assert cli.main(["--root", str(rendered), "render"]) == 0
    assert cli.main(["--root", str(rendered), "new", "call", "--from", "sample-caller", "--to", "orders"]) == 0
    capsys.readouterr()
    deployment = yaml.safe_load(
        (rendered / "clusters/cluster-1/istio-apps/deployment-sample-caller-v1.yaml").read_text())
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    assert container["env"] == [{"name": "BACKEND", "value": "http://orders.istio-apps.svc.clusterset.local:8080/api/v2"}]
    _clean(rendered, capsys)


def test_a_new_cluster_gets_no_namespace_nothing_runs_in(rendered: Path, capsys) -> None:
    assert cli.main(["--root", str(rendered), "new", "cluster", "cluster-3", "--clusterset", "fleet-prod",
                     "--location", "europe-west1", "--mcs", "gke", "--sync", "argocd"]) == 0
    overlay = yaml.safe_load((rendered / "overlays/cluster-3/kustomization.yaml").read_text())
    assert overlay["resources"] == []
    assert not (rendered / "clusters/cluster-3/istio-apps").exists()
    # A service there brings its namespace with it.
    assert cli.main(["--root", str(rendered), "new", "service", "billing", "--namespace", "istio-apps",
                     "--cluster", "cluster-3"]) == 0
    overlay = yaml.safe_load((rendered / "overlays/cluster-3/kustomization.yaml").read_text())
    assert overlay["resources"] == ["../../base/namespace", "../../base/billing"]
    assert (rendered / "clusters/cluster-3/istio-apps/namespace-istio-apps.yaml").is_file() or \
        any("Namespace" in p.read_text() for p in (rendered / "clusters/cluster-3").rglob("*.yaml"))
    _clean(rendered, capsys)
