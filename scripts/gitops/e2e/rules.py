"""The rules of `gitops e2e`: what a real kube-apiserver says. Listed with the others (--list-policies, waivers),
but validate never reports them (it runs no server), so they are not among the rules its reports count as checked."""
from __future__ import annotations

from gitops.model.findings import Severity
from gitops.model.rules import Rule

SERVER_REJECTS = Rule(
    "server-rejects", Severity.ERROR,
    "A real kube-apiserver of the cluster's version accepts every object (server-side apply).",
    "Schemas are a model; the API server also checks label syntax, CRD CEL rules, list keys and admission, "
    "and the sync engine fails on what it refuses.",
    "Fix the field the server names at the line shown; `nox -s e2e -- --clusters NAME` re-checks one cluster.")
SERVER_IMMUTABLE = Rule(
    "server-immutable", Severity.ERROR,
    "A change does not modify a field the API server refuses to change on a live object.",
    "Selectors, a Service's clusterIP, volumeClaimTemplates and other immutable fields are refused on "
    "update: the sync stays failed until someone deletes and recreates the object by hand.",
    "Keep the field as it is, or give the object a new name so that the old one is pruned.")
SERVER_WARNING = Rule(
    "server-warning", Severity.WARNING,
    "The API server applies every object without a warning (deprecated APIs, Pod Security).",
    "A deprecated API disappears in a later Kubernetes version; a Pod Security warning becomes a refusal "
    "when the namespace enforces the level.",
    "Move to the API version or settings the warning names.")
SERVER_DRIFT = Rule(
    "server-drift", Severity.ERROR,
    "Applying an object a second time changes nothing (its content as stored stays the same).",
    "An object the server rewrites on every apply shows as out of sync forever, and the sync engine "
    "re-applies it on every loop.",
    "Write the field the way the server stores it (the server's form of quantities, defaults).")
SERVER_PRUNED = Rule(
    "server-pruned", Severity.NOTICE,
    "Objects a change deletes are listed: the sync engine prunes them from the cluster.",
    "Argo CD (prune: true) and Config Sync delete what leaves the folder; that must be intended.",
    "Nothing to fix when the removal is intended.")
SERVER_NOT_EXERCISED = Rule(
    "server-not-exercised", Severity.NOTICE,
    "Objects that make the API server call out (admission webhooks, CRD conversion webhooks, APIServices with a "
    "Service) are checked by a dry run, never registered: e2e does not exercise what they call.",
    "A throwaway API server that registered them would send requests to any address a pull request names "
    "(server-side request forgery from CI); it runs with no network but its own loopback, where no webhook "
    "server runs. The dry run still checks the object's own fields.",
    "Nothing to fix here: test the webhook or aggregated API together with its server.")
SERVER_FORBIDDEN = Rule(
    "server-forbidden", Severity.ERROR,
    "Config Sync's reconciler, bound only to the roles its RootSync names (override.roleRefs), may read every kind "
    "of its folder cluster-wide and write it where it lives, as the real RBAC authorizer answers.",
    "A RootSync with roleRefs runs with exactly those roles: an object outside them fails the sync although it "
    "validates everywhere else.",
    "Run `nox -s render` (the derived roles follow the folder) and apply bootstrap/config-sync/<name>/, or widen "
    "the roles the inventory names (configSync.roleRefs).")
E2E_RULES: tuple[Rule, ...] = (SERVER_REJECTS, SERVER_IMMUTABLE, SERVER_WARNING, SERVER_DRIFT, SERVER_PRUNED,
                               SERVER_NOT_EXERCISED, SERVER_FORBIDDEN)


def checked(upgrade: bool) -> list[Rule]:
    """The rules a run actually checks (a report must not list the upgrade rules as passed without --base)."""
    if upgrade:
        return [SERVER_REJECTS, SERVER_IMMUTABLE, SERVER_WARNING, SERVER_PRUNED, SERVER_NOT_EXERCISED]
    return [SERVER_REJECTS, SERVER_WARNING, SERVER_DRIFT, SERVER_NOT_EXERCISED, SERVER_FORBIDDEN]
