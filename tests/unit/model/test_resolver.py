"""The resolver model (policies/_resolve.py): host strings resolved as a pod's resolver would, in a
two-cluster and a three-cluster fleet, and a corpus of values that hold no in-cluster call.

The fleets are built in memory (Resources, no kustomize), so every row reads one verdict; that the
policies report exactly the broken verdicts, through validate, is checked at the end and in
test_policies_mcs.py.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import PROJECT, edit, write
from gitops.run import context
from gitops import cli
from gitops.infra import inventoryfile as inventory
from gitops.run import pipeline
from gitops.model.resources import Resource
from gitops.model.objects import Objects
from policies import REGISTRY
from gitops.model import calls as _resolve
from gitops.model.calls import CLUSTERSET, EXTERNAL, LOCAL, UNRESOLVABLE

CORPUS = Path(__file__).parent / "resolver_corpus.yaml"
LOCAL_RULE, SET_RULE, FORM_RULE = _resolve.RULE_LOCAL, _resolve.RULE_CLUSTERSET, _resolve.RULE_FORM
C1, C2, C3 = ("cluster-1",), ("cluster-2",), ("cluster-3",)


def _inventory(tmp: Path, clusters: list[str]) -> inventory.Inventory:
    entries = ""
    for name in clusters:
        write(tmp, f"overlays/{name}/kustomization.yaml", "resources: []\n")
        entries += (f"  - name: {name}\n    clusterset: fleet-prod\n    location: us-east1\n"
                    f"    kubernetesVersion: \"1.33\"\n    mcs: gke\n    sync: config-sync\n    overlay: overlays/{name}\n")
    write(tmp, "inventory.yaml", "repository:\n  url: https://example.com/r.git\nclustersets:\n  - name: fleet-prod\n"
                                 f"clusters:\n{entries}")
    return inventory.load(tmp)


def _ns(cluster: str, name: str) -> Resource:
    return Resource(cluster, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})


def _svc(cluster: str, ns: str, name: str, *ports: int, headless: bool = False) -> Resource:
    spec: dict[str, Any] = {"selector": {"app": name}, "ports": [{"name": f"p{p}", "port": p} for p in ports]}
    if headless:
        spec["clusterIP"] = "None"
    return Resource(cluster, {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns},
                              "spec": spec})


def _export(cluster: str, ns: str, name: str) -> Resource:
    return Resource(cluster, {"apiVersion": "net.gke.io/v1", "kind": "ServiceExport",
                              "metadata": {"name": name, "namespace": ns}})


def _caller(value: str, key: str = "TARGET_URL") -> Resource:
    return Resource("cluster-1", {"apiVersion": "v1", "kind": "ConfigMap",
                                  "metadata": {"name": "caller-config", "namespace": "istio-apps"},
                                  "data": {key: value}})


def fleet_of(tmp: Path, size: int, callers: list[Resource]) -> Objects:
    """cluster-1 calls; cluster-2 runs and exports the producer; cluster-3 (size 3) exports it too, and more."""
    resources = {
        "cluster-1": [_ns("cluster-1", "istio-apps"), _svc("cluster-1", "istio-apps", "sample-caller", 8080),
                      _svc("cluster-1", "istio-apps", "cache", 6379, headless=True), *callers],
        "cluster-2": [_ns("cluster-2", "istio-apps"), _svc("cluster-2", "istio-apps", "sample-producer", 8080),
                      _export("cluster-2", "istio-apps", "sample-producer"),
                      _svc("cluster-2", "istio-apps", "admin", 9000),
                      _ns("cluster-2", "payments"), _svc("cluster-2", "payments", "ledger", 7000),
                      _export("cluster-2", "payments", "ledger")],
    }
    if size == 3:
        resources["cluster-3"] = [
            _ns("cluster-3", "istio-apps"), _svc("cluster-3", "istio-apps", "sample-producer", 8080),
            _export("cluster-3", "istio-apps", "sample-producer"),
            _svc("cluster-3", "istio-apps", "admin", 9000), _export("cluster-3", "istio-apps", "admin"),
            _svc("cluster-3", "istio-apps", "stateful", 5432, headless=True),
            _export("cluster-3", "istio-apps", "stateful")]
    return Objects(_inventory(tmp, list(resources)), resources)


P = "sample-producer.istio-apps"
# (host as written, verdict in the two-cluster fleet, in the three-cluster fleet); a verdict is
# (kind, ok, target clusters, reporting rule), None: not an address at all.
TABLE: list[tuple[str, Any, Any]] = [
    # a Service of the caller's own cluster, through every step of the search path
    ("http://sample-caller:8080", (LOCAL, True, C1, ""), (LOCAL, True, C1, "")),
    ("sample-caller:8080", (LOCAL, True, C1, ""), (LOCAL, True, C1, "")),
    ("sample-caller.istio-apps:8080", (LOCAL, True, C1, ""), (LOCAL, True, C1, "")),
    ("sample-caller.istio-apps.svc:8080", (LOCAL, True, C1, ""), (LOCAL, True, C1, "")),
    ("http://sample-caller.istio-apps.svc.cluster.local:8080/x", (LOCAL, True, C1, ""), (LOCAL, True, C1, "")),
    ("sample-caller.istio-apps.svc.cluster.local.:8080", (LOCAL, True, C1, ""), (LOCAL, True, C1, "")),
    ("cache:6379", (LOCAL, True, C1, ""), (LOCAL, True, C1, "")),
    ("cache-0.cache:6379", (LOCAL, True, C1, ""), (LOCAL, True, C1, "")),
    ("kubernetes.default.svc:443", (LOCAL, True, C1, ""), (LOCAL, True, C1, "")),
    ("https://kubernetes.default.svc.cluster.local", (LOCAL, True, C1, ""), (LOCAL, True, C1, "")),
    # ... on a port the Service does not have
    ("http://sample-caller:9999", (LOCAL, False, C1, LOCAL_RULE), (LOCAL, False, C1, LOCAL_RULE)),
    ("http://sample-caller", (LOCAL, False, C1, LOCAL_RULE), (LOCAL, False, C1, LOCAL_RULE)),
    # short and in-cluster names of a Service that runs in another cluster
    ("http://sample-producer:8080", (UNRESOLVABLE, False, (), LOCAL_RULE), (UNRESOLVABLE, False, (), LOCAL_RULE)),
    (f"{P}:8080", (UNRESOLVABLE, False, (), LOCAL_RULE), (UNRESOLVABLE, False, (), LOCAL_RULE)),
    (f"{P}.svc:8080", (UNRESOLVABLE, False, (), LOCAL_RULE), (UNRESOLVABLE, False, (), LOCAL_RULE)),
    (f"http://{P}.svc.cluster.local:8080", (UNRESOLVABLE, False, (), LOCAL_RULE),
     (UNRESOLVABLE, False, (), LOCAL_RULE)),
    ("http://admin:9000", (UNRESOLVABLE, False, (), LOCAL_RULE), (UNRESOLVABLE, False, (), LOCAL_RULE)),
    ("ledger.payments:7000", (UNRESOLVABLE, False, (), LOCAL_RULE), (UNRESOLVABLE, False, (), LOCAL_RULE)),
    ("http://sample-calle:8080", (UNRESOLVABLE, False, (), LOCAL_RULE), (UNRESOLVABLE, False, (), LOCAL_RULE)),
    # names the search path never completes
    (f"{P}.svc.cluster:8080", (UNRESOLVABLE, False, (), LOCAL_RULE), (UNRESOLVABLE, False, (), LOCAL_RULE)),
    (f"{P}.cluster.local:8080", (UNRESOLVABLE, False, (), LOCAL_RULE), (UNRESOLVABLE, False, (), LOCAL_RULE)),
    ("sample-producer.svc", (UNRESOLVABLE, False, (), LOCAL_RULE), (UNRESOLVABLE, False, (), LOCAL_RULE)),
    # clusterset imports
    (f"http://{P}.svc.clusterset.local:8080", (CLUSTERSET, True, C2, ""), (CLUSTERSET, True, C2 + C3, "")),
    (f"grpc://{P}.svc.clusterset.local", (CLUSTERSET, True, C2, ""), (CLUSTERSET, True, C2 + C3, "")),
    (f"dns:///{P}.svc.clusterset.local:8080", (CLUSTERSET, True, C2, ""), (CLUSTERSET, True, C2 + C3, "")),
    (f"{P}.svc.clusterset.local.:8080", (CLUSTERSET, True, C2, ""), (CLUSTERSET, True, C2 + C3, "")),
    (f"{P}.svc.clusterset.local:9090", (CLUSTERSET, False, C2, SET_RULE), (CLUSTERSET, False, C2 + C3, SET_RULE)),
    (f"https://{P}.svc.clusterset.local", (CLUSTERSET, False, C2, SET_RULE),
     (CLUSTERSET, False, C2 + C3, SET_RULE)),
    ("admin.istio-apps.svc.clusterset.local:9000", (CLUSTERSET, False, (), SET_RULE), (CLUSTERSET, True, C3, "")),
    ("stateful.istio-apps.svc.clusterset.local:5432", (CLUSTERSET, False, (), SET_RULE), (CLUSTERSET, True, C3, "")),
    ("pod-0.cluster-3.stateful.istio-apps.svc.clusterset.local:5432", (CLUSTERSET, False, (), SET_RULE),
     (CLUSTERSET, True, C3, "")),
    ("pod-0.cluster-2.stateful.istio-apps.svc.clusterset.local:5432", (CLUSTERSET, False, (), SET_RULE),
     (UNRESOLVABLE, False, (), FORM_RULE)),  # cluster-3 exports it, not cluster-2
    ("stateful.istio-apps.svc.clusterset.local:15432", (CLUSTERSET, False, (), SET_RULE),
     (CLUSTERSET, True, C3, "")),  # headless: pod IPs, the caller's port is a container port
    ("cache:16379", (LOCAL, True, C1, ""), (LOCAL, True, C1, "")),  # headless too
    ("ledger.payments.svc.clusterset.local:7000", (CLUSTERSET, False, C2, SET_RULE),
     (CLUSTERSET, False, C2, SET_RULE)),
    ("http://sample-produce.istio-apps.svc.clusterset.local:8080", (CLUSTERSET, False, (), SET_RULE),
     (CLUSTERSET, False, (), SET_RULE)),
    # clusterset-looking forms no MCS implementation serves
    (f"{P}.clusterset.local:8080", (UNRESOLVABLE, False, (), FORM_RULE), (UNRESOLVABLE, False, (), FORM_RULE)),
    (f"{P}.svc.clusterset:8080", (UNRESOLVABLE, False, (), FORM_RULE), (UNRESOLVABLE, False, (), FORM_RULE)),
    ("sample-producer.clusterset.local", (UNRESOLVABLE, False, (), FORM_RULE), (UNRESOLVABLE, False, (), FORM_RULE)),
    (f"cluster-2.{P}.svc.clusterset.local:8080", (UNRESOLVABLE, False, (), FORM_RULE),
     (UNRESOLVABLE, False, (), FORM_RULE)),
    (f"pod-0.cluster-2.{P}.svc.clusterset.local:8080", (UNRESOLVABLE, False, (), FORM_RULE),
     (UNRESOLVABLE, False, (), FORM_RULE)),
    (f"a.b.{P}.svc.clusterset.local", (UNRESOLVABLE, False, (), FORM_RULE), (UNRESOLVABLE, False, (), FORM_RULE)),
    (f"{'p' * 64}.istio-apps.svc.clusterset.local", (UNRESOLVABLE, False, (), FORM_RULE),
     (UNRESOLVABLE, False, (), FORM_RULE)),
    # external: left alone
    ("https://api.example.com/v1", (EXTERNAL, True, (), ""), (EXTERNAL, True, (), "")),
    ("example.com:443", (EXTERNAL, True, (), ""), (EXTERNAL, True, (), "")),
    ("redis://:pw@cache.example.com:6379/0", (EXTERNAL, True, (), ""), (EXTERNAL, True, (), "")),
    ("jdbc:postgresql://db.example.com:5432/app", (EXTERNAL, True, (), ""), (EXTERNAL, True, (), "")),
    ("http://localhost:8080", (EXTERNAL, True, (), ""), (EXTERNAL, True, (), "")),
    ("metadata.google.internal", (EXTERNAL, True, (), ""), (EXTERNAL, True, (), "")),
    ("api.istio-apps.example.com:8443", (EXTERNAL, True, (), ""), (EXTERNAL, True, (), "")),
    ("sample-producer.example:8080", (EXTERNAL, True, (), ""), (EXTERNAL, True, (), "")),
    # not addresses at all
    ("10.0.0.5:6379", None, None),
    ("s3://sample-producer/data", None, None),
]


def _verdict(objects: Objects) -> Any:
    found = _resolve.verdicts(objects)
    assert len(found) <= 1, found
    if not found:
        return None
    v = found[0]
    return v.kind, v.ok, v.clusters, v.rule


@pytest.mark.parametrize("size", [2, 3])
@pytest.mark.parametrize(("text", "two", "three"), TABLE, ids=[row[0] for row in TABLE])
def test_verdict_table(tmp_path: Path, size: int, text: str, two: Any, three: Any) -> None:
    assert _verdict(fleet_of(tmp_path, size, [_caller(text)])) == (two if size == 2 else three)


def test_verdict_table_size() -> None:
    assert len(TABLE) >= 40


@pytest.mark.parametrize(("text", "reason", "fix"), [
    ("http://sample-producer:8080",
     "no Service istio-apps/sample-producer exists in cluster-1, so the name does not resolve there; cluster-2 has "
     f"Service istio-apps/sample-producer and exports it: use http://{P}.svc.clusterset.local:8080",
     f"http://{P}.svc.clusterset.local:8080"),
    (f"{P}:8080", "no Service istio-apps/sample-producer exists in cluster-1, so the name does not resolve there; "
                  f"cluster-2 has Service istio-apps/sample-producer and exports it: use {P}.svc.clusterset.local:8080",
     f"{P}.svc.clusterset.local:8080"),
    (f"http://{P}.clusterset.local:8080",
     f"{P}.clusterset.local is not a name MCS serves (MCS serves {_resolve.FORMS}); use {P}.svc.clusterset.local",
     f"http://{P}.svc.clusterset.local:8080"),
    ("http://sample-calle:8080", "no Service istio-apps/sample-calle exists in cluster-1 or any cluster of clusterset "
                                 "fleet-prod; did you mean http://sample-caller:8080?", "http://sample-caller:8080"),
    ("http://sample-caller:9999", "port 9999 is not a port of Service istio-apps/sample-caller in cluster-1; its "
                                  "ports are 8080", ""),
])
def test_reason_and_fix(tmp_path: Path, text: str, reason: str, fix: str) -> None:
    [v] = _resolve.verdicts(fleet_of(tmp_path, 2, [_caller(text)]))
    assert (v.reason, v.fix) == (reason, fix)
    assert v.message == f"cluster-1 ConfigMap istio-apps/caller-config calls {text}, but {reason}"


def test_verdict_carries_what_an_edge_needs(tmp_path: Path) -> None:
    caller = _caller(f"http://{P}.svc.clusterset.local:8080", key="PRODUCER_URL")
    [v] = _resolve.verdicts(fleet_of(tmp_path, 3, [caller]))
    assert (v.resource, v.path, v.host, v.namespace, v.service, v.clusters, v.port, v.ok) == (
        caller, ("data", "PRODUCER_URL"), f"{P}.svc.clusterset.local", "istio-apps", "sample-producer",
        ("cluster-2", "cluster-3"), 8080, True)


@pytest.mark.parametrize(("key", "value", "hosts"), [
    ("PRODUCER_HOST", "sample-producer", ["sample-producer"]),  # a bare host under an address-named key
    ("producer.host", "sample-producer", ["sample-producer"]),
    ("PRODUCER", "sample-producer", []),  # not an address-named key: a bare word is not a host
    ("FEATURE_SERVICE", "enabled", []),
    ("UPSTREAMS", "a.example.com:443,b.example.com:443", ["a.example.com", "b.example.com"]),
    ("NOTE", "calls sample-producer:8080 at night", []),  # prose around host:port
    ("FORMAT", "json:3", []),  # a single-label name:number that no Service has
    ("TARGET", "sample-producer:8080", ["sample-producer"]),  # ... and one that a Service has
    ("config", "server.url=http://sample-producer:8080\nlog: info\n", ["sample-producer"]),
])
def test_which_strings_are_addresses(key: str, value: str, hosts: list[str]) -> None:
    found = _resolve.hosts_in(value, key, frozenset({"sample-producer"}))
    assert [h.host for h in found] == hosts


def _corpus() -> list[dict[str, Any]]:
    return yaml.safe_load(CORPUS.read_text())["entries"]


def _corpus_resources(cluster: str, namespace: str) -> list[Resource]:
    out = []
    for i, entry in enumerate(_corpus()):
        if "data" in entry:
            out.append(Resource(cluster, {"apiVersion": "v1", "kind": "ConfigMap",
                                          "metadata": {"name": entry["name"], "namespace": namespace},
                                          "data": entry["data"]}))
        else:
            container = {"name": "app", "image": "app:1.0.0", "env": entry.get("env", []),
                         "args": entry.get("args", [])}
            out.append(Resource(cluster, {"apiVersion": "apps/v1", "kind": "Deployment",
                                          "metadata": {"name": entry["name"], "namespace": namespace},
                                          "spec": {"template": {"spec": {"containers": [container]}}}}))
    return out


def test_corpus_size() -> None:
    entries = _corpus()
    assert len(entries) >= 30
    assert len({e["name"] for e in entries}) == len(entries)


@pytest.mark.parametrize("size", [2, 3])
def test_corpus_has_no_broken_call(tmp_path: Path, size: int) -> None:
    """External URLs, prose, JDBC and Redis URLs, IPs and ports: not one broken verdict, no finding."""
    objects = fleet_of(tmp_path, size, _corpus_resources("cluster-1", "istio-apps"))
    broken = [v.message for v in _resolve.verdicts(objects) if not v.ok]
    assert broken == []
    resolver_rules = [p for p in REGISTRY if p.id in (LOCAL_RULE, SET_RULE, FORM_RULE)]
    assert [v.message for p in resolver_rules for v in p.run(objects)] == []


def test_corpus_breaks_when_a_name_is_in_cluster(tmp_path: Path) -> None:
    """The corpus test can fail: one in-cluster short name among the entries is found and judged."""
    extra = _caller("http://sample-producer:8080")
    objects = fleet_of(tmp_path, 2, _corpus_resources("cluster-1", "istio-apps") + [extra])
    assert [v.rule for v in _resolve.verdicts(objects) if not v.ok] == [LOCAL_RULE]


def test_corpus_through_validate(repo: Path, capsys) -> None:
    """The corpus in cluster-1 (ConfigMaps, and the env and args blocks on the caller): validate stays clean."""
    configmaps = [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": e["name"], "namespace": "istio-apps"},
                   "data": e["data"]} for e in _corpus() if "data" in e]
    write(repo, "overlays/cluster-1/corpus.yaml", yaml.safe_dump_all(configmaps))
    env = [v for e in _corpus() for v in e.get("env", [])]
    args = [a for e in _corpus() for a in e.get("args", [])]
    patch = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "sample-caller-v1", "namespace": "istio-apps"},
             "spec": {"template": {"spec": {"containers": [{"name": "sample-caller", "env": env, "args": args}]}}}}
    write(repo, "overlays/cluster-1/corpus-env.yaml", yaml.safe_dump(patch))
    edit(repo, "overlays/cluster-1/kustomization.yaml", "  - httproute.yaml\n", "  - httproute.yaml\n  - corpus.yaml\n")
    edit(repo, "overlays/cluster-1/kustomization.yaml", "patches:\n", "patches:\n  - path: corpus-env.yaml\n")
    result = pipeline.validate(repo, REGISTRY, context.Options(check_stale=False))
    assert [f.message for f in result.findings] == []
    objects = Objects(result.inventory, result.resources)
    assert len([v for v in _resolve.verdicts(objects) if v.kind == EXTERNAL]) >= 30  # the corpus was read


def test_repository_calls_resolve() -> None:
    """The repository: its one cross-cluster call resolves to cluster-2's export, and nothing is broken."""
    inv, resources = pipeline.build(PROJECT)
    found = [(v.kind, v.ok, v.clusters, v.service) for v in _resolve.verdicts(Objects(inv, resources))]
    assert found == [(CLUSTERSET, True, ("cluster-2",), "sample-producer")]


def test_fleetgen_fleet_calls_resolve(tmp_path: Path) -> None:
    """A generated fleet of two clustersets: every call is a clusterset import that resolves."""
    from gitops.scaffold import fleetgen

    fleetgen.generate(tmp_path, clusters=6, services=4, clustersets=2)
    inv, resources = pipeline.build(tmp_path)
    found = _resolve.verdicts(Objects(inv, resources))
    assert found and [v.message for v in found if not v.ok] == []
    assert {v.kind for v in found} == {CLUSTERSET}


@pytest.mark.parametrize(("url", "rule", "fix"), [
    ("http://sample-producer:8080", LOCAL_RULE, f"http://{P}.svc.clusterset.local:8080"),
    (f"{P}:8080", LOCAL_RULE, f"{P}.svc.clusterset.local:8080"),
    (f"http://{P}.clusterset.local:8080", FORM_RULE, f"{P}.svc.clusterset.local"),
])
def test_the_issues_examples_fail_validate(repo: Path, capsys, url: str, rule: str, fix: str) -> None:
    """Through the command line: the calls that used to validate clean."""
    edit(repo, "overlays/cluster-1/producer-url.yaml", "http://sample-producer.istio-apps.svc.clusterset.local:8080",
         url)
    assert cli.main(["--root", str(repo), "render"]) == 0
    capsys.readouterr()
    assert cli.main(["--root", str(repo), "validate", "--format", "json"]) == 1
    import json
    [f] = json.loads(capsys.readouterr().out)["findings"]
    assert f["rule"] == rule and f["message"].endswith(f"use {fix}")


def test_a_graph_edge_is_broken_exactly_when_a_finding_says_so(tmp_path: Path) -> None:
    """Every row of the table as its own caller: diff's call graph and the findings come from one verdict."""
    from gitops.diff import compare as diff

    callers = [Resource("cluster-1", {"apiVersion": "v1", "kind": "ConfigMap",
                                      "metadata": {"name": f"caller-{i}", "namespace": "istio-apps"},
                                      "data": {"TARGET_URL": text}}) for i, (text, _, _) in enumerate(TABLE)]
    for size in (2, 3):
        objects = fleet_of(tmp_path / str(size), size, callers)
        rules = [p for p in REGISTRY if p.id in (LOCAL_RULE, SET_RULE, FORM_RULE)]
        flagged = {(v.resource.name, v.message) for p in rules for v in p.run(objects)}
        broken = {(call.caller.name, f"{call.caller.cluster} ConfigMap istio-apps/{call.caller.name} calls {call.url}, "
                   f"but {call.problem}") for call in diff.calls(objects).values() if not call.exporters}
        assert flagged and broken == flagged
        assert any(call.exporters for call in diff.calls(objects).values())


@pytest.mark.parametrize("kind", ["HTTPRoute", "GRPCRoute"])
def test_route_backend_refs_with_dns_names(tmp_path: Path, kind: str) -> None:
    """A backendRef name with a dot is a DNS name (an object name never has one): it is resolved like a URL."""
    route = Resource("cluster-1", {"apiVersion": "gateway.networking.k8s.io/v1", "kind": kind,
                                   "metadata": {"name": "ui", "namespace": "istio-apps"},
                                   "spec": {"rules": [{"backendRefs": [
                                       {"name": "sample-caller", "port": 8080},
                                       {"name": f"{P}.svc.clusterset.local", "port": 9090}]}]}})
    [v] = _resolve.verdicts(fleet_of(tmp_path, 2, [route]))
    assert (v.path, v.kind, v.ok, v.rule, v.port) == (("spec", "rules", 0, "backendRefs", 1, "name"), CLUSTERSET, False,
                                                      SET_RULE, 9090)
