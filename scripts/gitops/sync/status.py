"""Reading a live Argo CD's objects: what an Application's status says of its sync, each object's result and health.

Pure functions over the JSON the host API server returns (docs/argocd-sync.md, "Findings and how each is read from
Argo CD's objects"), so that what makes a finding is tested on recorded Applications without running Argo CD.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from gitops.model import argocd

TERMINAL = ("Succeeded", "Failed", "Error")
MARKER = "gitops-sync"  # operation.info name of the syncs this run starts (their value tells them apart)
_TEMP_FILE = re.compile(r'(error when \w+ )?"?/dev/shm/\d+"?:?\s*')  # Argo CD's scratch file for kubectl apply


@dataclass(frozen=True)
class Result:
    """One object's line of a sync operation (status.operationState.syncResult.resources[])."""

    group: str
    kind: str
    namespace: str
    name: str
    status: str  # Synced, SyncFailed, Pruned, PruneSkipped
    message: str
    hook_phase: str  # "" for a refusal before anything is applied

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.group, self.kind, self.namespace, self.name)


def _status(app: dict[str, Any]) -> dict[str, Any]:
    return app.get("status") or {}


def operation(app: dict[str, Any]) -> dict[str, Any]:
    return _status(app).get("operationState") or {}


def results(app: dict[str, Any]) -> list[Result]:
    return [Result(str(r.get("group") or ""), str(r.get("kind") or ""), str(r.get("namespace") or ""),
                   str(r.get("name") or ""), str(r.get("status") or ""), str(r.get("message") or ""),
                   str(r.get("hookPhase") or ""))
            for r in (operation(app).get("syncResult") or {}).get("resources") or ()]


def ours(app: dict[str, Any], marker: str) -> bool:
    """Whether the operation in the status is the one this run started with `marker` in operation.info."""
    info = (operation(app).get("operation") or {}).get("info") or ()
    return any(isinstance(i, dict) and i.get("name") == MARKER and i.get("value") == marker for i in info)


def finished(app: dict[str, Any]) -> bool:
    """The current operation has a verdict: it ended with nothing more requested, or it is retrying after an object
    failed (a retry applies the same manifests again: waiting out its backoff adds minutes and nothing new)."""
    state = operation(app)
    if state.get("phase") in TERMINAL:
        return "operation" not in app
    failed = any(r.status == "SyncFailed" for r in results(app))
    return state.get("phase") == "Running" and int(state.get("retryCount") or 0) >= 1 and failed


def conditions(app: dict[str, Any], kind: str) -> list[str]:
    """Messages of the Application's conditions of one type (InvalidSpecError, ComparisonError, SyncError ...)."""
    return [str(c.get("message") or "") for c in _status(app).get("conditions") or ()
            if isinstance(c, dict) and c.get("type") == kind]


def clean(message: str) -> str:
    """Argo CD's message without the name of its scratch file (/dev/shm/<number> changes on every sync)."""
    return _TEMP_FILE.sub("", message).strip()


def refused(app: dict[str, Any]) -> list[Result]:
    """Objects the sync's permission check refused before anything was applied (no hook phase)."""
    return [r for r in results(app) if r.status == "SyncFailed" and not r.hook_phase]


def failed(app: dict[str, Any]) -> list[Result]:
    """Objects that failed to apply (the API server's answer is the message)."""
    return [r for r in results(app) if r.status == "SyncFailed" and r.hook_phase]


def operation_failed(app: dict[str, Any]) -> str:
    """The operation's message when it failed or is retrying; "" when it succeeded."""
    state = operation(app)
    if state.get("phase") == "Succeeded":
        return ""
    return clean(str(state.get("message") or ""))


def sync_status(app: dict[str, Any]) -> str:
    return str((_status(app).get("sync") or {}).get("status") or "")


def revision(app: dict[str, Any]) -> str:
    return str((_status(app).get("sync") or {}).get("revision") or "")


def out_of_sync(app: dict[str, Any]) -> list[dict[str, Any]]:
    """status.resources[] entries that are not Synced."""
    return [r for r in _status(app).get("resources") or () if isinstance(r, dict) and r.get("status") != "Synced"]


def reapplied(app: dict[str, Any]) -> list[Result]:
    """Objects a sync changed (client-side apply says `<kind>/<name> unchanged` for the others); under server-side
    apply every message is `serverside-applied`, so this reads nothing there."""
    return [r for r in results(app) if r.status == "Synced" and not r.message.endswith(" unchanged")
            and r.message != "serverside-applied" and not r.message.endswith(" serverside-applied")]


def self_heals(app: dict[str, Any]) -> int:
    """How many times selfHeal re-synced on the same revision (operationState.operation.sync.autoHealAttemptsCount)."""
    sync = (operation(app).get("operation") or {}).get("sync") or {}
    return int(sync.get("autoHealAttemptsCount") or 0)


def health(app: dict[str, Any]) -> list[tuple[dict[str, Any], str, str]]:
    """(resource entry, health status, message) of every object whose health Argo CD assessed."""
    out = []
    for r in _status(app).get("resources") or ():
        if isinstance(r, dict) and isinstance(r.get("health"), dict):
            out.append((r, str(r["health"].get("status") or ""), str(r["health"].get("message") or "")))
    return out


def degraded(app: dict[str, Any]) -> list[tuple[dict[str, Any], str]]:
    return [(r, message) for r, status, message in health(app) if status == "Degraded"]


def application(app: dict[str, Any], clusters: dict[str, str]) -> argocd.Application:
    """A live Application as model data; `clusters` maps each registered cluster's name to its server (the
    destination resolves by name, else by server)."""
    spec = app.get("spec") or {}
    source = spec.get("source") or {}
    dest = spec.get("destination") or {}
    name, server = str(dest.get("name") or ""), str(dest.get("server") or "")
    cluster = name if name in clusters else next((n for n, s in clusters.items() if server and s == server), "")
    return argocd.Application(
        name=str((app.get("metadata") or {}).get("name") or ""), path=str(source.get("path") or ""),
        destination=name or server, cluster=cluster, project=str(spec.get("project") or ""),
        conditions=tuple(conditions(app, "InvalidSpecError")),
        sync_options=tuple(str(o) for o in (spec.get("syncPolicy") or {}).get("syncOptions") or ()))


def generation_error(appset: dict[str, Any]) -> str:
    """The ApplicationSet's ErrorOccurred message ("" when none)."""
    for c in _status(appset).get("conditions") or ():
        if isinstance(c, dict) and c.get("type") == "ErrorOccurred" and c.get("status") == "True":
            return str(c.get("message") or "")
    return ""


def reconciled(appset: dict[str, Any]) -> bool:
    """The applicationset-controller has answered: its Applications are up to date, or it says why not."""
    return any(isinstance(c, dict) and c.get("type") in ("ResourcesUpToDate", "ErrorOccurred")
               and c.get("status") == "True" for c in _status(appset).get("conditions") or ())


Path = tuple[Any, ...]
_IGNORED = {("metadata",), ("status",)}


def defaulted(rendered: Any, stored: Any, path: Path = (), in_list: bool = False) -> list[tuple[Path, Any]]:
    """(path, stored value) of each field the stored object has inside a list item and the rendered one lacks: the
    API server filled it in (a CRD's defaults). Client-side apply replaces such a list as a whole, so the object is
    re-applied on every sync; a field missing outside lists is kept by the three-way merge and changes nothing."""
    if path in _IGNORED:
        return []
    out: list[tuple[Path, Any]] = []
    if isinstance(rendered, dict) and isinstance(stored, dict):
        for key, value in stored.items():
            if key not in rendered:
                if in_list:
                    out.append(((*path, key), value))
            else:
                out += defaulted(rendered[key], value, (*path, key), in_list)
    elif isinstance(rendered, list) and isinstance(stored, list) and len(rendered) == len(stored):
        for i, (a, b) in enumerate(zip(rendered, stored)):
            out += defaulted(a, b, (*path, i), True)
    return out
