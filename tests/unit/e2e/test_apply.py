"""Drift between two applies (e2e/apply.py): a change of stored content, not of resourceVersion, managedFields
or the status the server's own controllers write."""
from __future__ import annotations

from gitops.e2e import apply as e2e


def test_drift_is_a_change_of_stored_content_not_of_resource_version() -> None:
    stored = {"metadata": {"name": "x", "resourceVersion": "1", "managedFields": [{"time": "t1"}]},
              "spec": {"ports": [{"port": 80}]}, "status": {"conditions": []}}
    same = {**stored, "metadata": {"name": "x", "resourceVersion": "2", "managedFields": [{"time": "t2"}]}}
    assert e2e._difference(stored, same) is None
    changed = {**same, "spec": {"ports": [{"port": 8080}]}}
    assert e2e._difference(stored, changed) == ("spec", "ports", 0, "port")


def test_drift_ignores_status_written_by_the_servers_own_controllers() -> None:
    stored = {"metadata": {"name": "x", "resourceVersion": "1"}, "spec": {"group": "g"},
              "status": {"acceptedNames": {"kind": ""}, "conditions": []}}
    again = {"metadata": {"name": "x", "resourceVersion": "2"}, "spec": {"group": "g"},
             "status": {"acceptedNames": {"kind": "Widget"}, "conditions": [{"type": "Established"}]}}
    assert e2e._difference(stored, again) is None
    assert e2e._difference(stored, {**again, "spec": {"group": "h"}}) == ("spec", "group")
