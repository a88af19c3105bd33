"""Reading a live Argo CD's objects (gitops.sync.status) on recorded shapes of v3.2.11's Application status."""
from __future__ import annotations

from gitops.sync import engine, status

ROUTE = {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
         "metadata": {"name": "r", "namespace": "n"},
         "spec": {"parentRefs": [{"name": "g"}], "hostnames": ["a"],
                  "rules": [{"backendRefs": [{"name": "s", "port": 80}]}]}}
STORED = {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
          "metadata": {"name": "r", "namespace": "n", "resourceVersion": "7", "uid": "x"},
          "spec": {"parentRefs": [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "g"}],
                   "hostnames": ["a"],
                   "rules": [{"backendRefs": [{"group": "", "kind": "Service", "name": "s", "port": 80, "weight": 1}],
                              "matches": [{"path": {"type": "PathPrefix", "value": "/"}}]}]},
          "status": {"parents": []}}
STORED["spec"]["top"] = "defaulted outside any list: the three-way merge keeps it, nothing is re-applied"


def _app(phase: str, resources: list[dict], retry: int = 0, operation: bool = False) -> dict:
    app: dict = {"status": {"operationState": {"phase": phase, "retryCount": retry,
                                               "syncResult": {"resources": resources}}}}
    if operation:
        app["operation"] = {"sync": {}}
    return app


def test_defaulted_names_fields_inside_list_items_only() -> None:
    found = status.defaulted(ROUTE, STORED)
    assert found == [(("spec", "parentRefs", 0, "group"), "gateway.networking.k8s.io"),
                     (("spec", "parentRefs", 0, "kind"), "Gateway"),
                     (("spec", "rules", 0, "backendRefs", 0, "group"), ""),
                     (("spec", "rules", 0, "backendRefs", 0, "kind"), "Service"),
                     (("spec", "rules", 0, "backendRefs", 0, "weight"), 1),
                     (("spec", "rules", 0, "matches"), [{"path": {"type": "PathPrefix", "value": "/"}}])]
    assert status.defaulted(STORED["spec"], STORED["spec"]) == []


def test_reapplied_reads_client_side_messages() -> None:
    app = _app("Succeeded", [
        {"kind": "ConfigMap", "name": "a", "status": "Synced", "message": "configmap/a unchanged", "hookPhase": "Running"},
        {"kind": "HTTPRoute", "name": "r", "status": "Synced", "hookPhase": "Running",
         "message": "httproute.gateway.networking.k8s.io/r configured"},
        {"kind": "Service", "name": "s", "status": "Synced", "message": "serverside-applied", "hookPhase": "Running"}])
    assert [r.name for r in status.reapplied(app)] == ["r"]


def test_finished_waits_for_the_verdict() -> None:
    failed = [{"kind": "ConfigMap", "name": "a", "status": "SyncFailed", "hookPhase": "Failed",
               "message": 'error when patching "/dev/shm/123": ConfigMap "a" is invalid'}]
    assert not status.finished(_app("Running", []))
    assert not status.finished(_app("Succeeded", [], operation=True))  # another operation is requested
    assert status.finished(_app("Succeeded", []))
    assert status.finished(_app("Running", failed, retry=1))  # retrying after a failed object: same answer again
    assert [r.name for r in status.failed(_app("Failed", failed))] == ["a"]
    assert status.clean(failed[0]["message"]) == 'ConfigMap "a" is invalid'
    refused = [{"kind": "Namespace", "name": "x", "status": "SyncFailed",
                "message": "resource :Namespace is not permitted in project p"}]
    assert [r.name for r in status.refused(_app("Failed", refused))] == ["x"]
    assert status.failed(_app("Failed", refused)) == []


def test_bootstrap_objects_point_only_the_repository_url_at_the_git_daemon() -> None:
    body = {"spec": {"generators": [{"git": {"repoURL": "https://x/r.git", "revision": "main"}}],
                     "template": {"spec": {"source": {"repoURL": "https://x/r.git", "path": "{{.path.path}}"}}},
                     "other": "https://x/other.git"}}
    out = engine.pointed(body, "https://x/r.git", "git://127.0.0.1:1/repository.git")
    assert out["spec"]["generators"][0]["git"] == {"repoURL": "git://127.0.0.1:1/repository.git", "revision": "main"}
    assert out["spec"]["template"]["spec"]["source"]["repoURL"] == "git://127.0.0.1:1/repository.git"
    assert out["spec"]["other"] == "https://x/other.git"
    assert body["spec"]["generators"][0]["git"]["repoURL"] == "https://x/r.git"  # the rendered object is untouched


def test_the_deadline_ends_every_wait() -> None:
    import pytest

    from gitops.model.errors import UsageError

    clock = engine.Clock(0.3)
    assert clock.wait("never", lambda: None, limit=0.05) is None  # a wait with its own limit answers None
    with pytest.raises(engine.TimeLimit, match="never: not within GITOPS_SYNC_TIMEOUT"):
        clock.wait("never", lambda: None)
    assert engine.Clock(5).wait("at once", lambda: "yes") == "yes"
    with pytest.raises(engine.ToolError, match="it died"):
        engine.Clock(5).wait("a process", lambda: None, alive=lambda: "it died")
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(UsageError):
            engine.Clock(bad)
