"""Objects that make kube-apiserver call out to an address, and the form in which e2e applies them instead.

Three kinds of object make the API server open a connection on its own, to wherever the object says
(from the Kubernetes API reference and the apiserver's admission and aggregation code):

- ValidatingWebhookConfiguration and MutatingWebhookConfiguration (admissionregistration.k8s.io): every
  matching request is POSTed to each webhook's `clientConfig.url` or `clientConfig.service`;
- a CustomResourceDefinition whose `spec.conversion.strategy` is `Webhook`: objects are converted
  between its versions by POSTing them to `spec.conversion.webhook.clientConfig`;
- an APIService (apiregistration.k8s.io) with a `spec.service`: the aggregator proxies the group's
  requests to that Service and checks its availability on its own, with no request needed.

The objects come from pull requests, so a throwaway API server that registered them would make requests
to any address a contributor names (server-side request forgery from CI). e2e therefore checks such an
object by a server-side dry run only, which validates it without storing it (nothing registered is ever
called), and reports it as not exercised at the field that names the target; a CRD is applied with its
conversion set to `None`, so the objects of its versions are still checked. The network namespace
(netns.py) is the second wall.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

WEBHOOK_KINDS = {"ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"}
_ADMISSION = "admissionregistration.k8s.io"
_AGGREGATION = "apiregistration.k8s.io"
_CRD = ("apiextensions.k8s.io", "CustomResourceDefinition")
PathElem = str | int


@dataclass(frozen=True)
class CallOut:
    """Why the object would make the server call out, the field that names where, and what to apply for real
    (None: a dry run only)."""

    reason: str
    path: tuple[PathElem, ...]
    applied: dict[str, Any] | None


def _group(body: dict[str, Any]) -> str:
    return str(body.get("apiVersion", "")).rpartition("/")[0]


def _conversion_webhook(spec: dict[str, Any]) -> bool:
    conversion = spec.get("conversion")
    return isinstance(conversion, dict) and conversion.get("strategy") == "Webhook"


def call_out(body: dict[str, Any]) -> CallOut | None:
    """How `body` would make the API server call out, or None when it would not."""
    kind, group = body.get("kind"), _group(body)
    spec: dict[str, Any] = body["spec"] if isinstance(body.get("spec"), dict) else {}
    if group == _ADMISSION and kind in WEBHOOK_KINDS:
        hooks = body.get("webhooks")
        first = hooks[0] if isinstance(hooks, list) and hooks and isinstance(hooks[0], dict) else None
        path: tuple[PathElem, ...] = ("webhooks", 0, "clientConfig") if first and "clientConfig" in first else \
            ("webhooks",) if hooks else ("kind",)
        return CallOut(f"the API server would send matching requests to its {'webhooks' if hooks else 'webhook'}, "
                       "so it is checked by a dry run only", path, None)
    if group == _AGGREGATION and kind == "APIService" and spec.get("service"):
        return CallOut("the API server would proxy the group's requests to its Service, and probe it on its own, "
                       "so it is checked by a dry run only", ("spec", "service"), None)
    if (group, kind) == _CRD and _conversion_webhook(spec):
        conversion = spec["conversion"]
        path = ("spec", "conversion", "webhook") if "webhook" in conversion else ("spec", "conversion")
        applied = copy.deepcopy(body)
        applied["spec"]["conversion"] = {"strategy": "None"}
        return CallOut("the API server would send objects to its conversion webhook, so it is checked by a dry run "
                       "as written and applied with conversion strategy None: objects of its versions are checked, "
                       "never converted", path, applied)
    return None


def neutral(body: dict[str, Any]) -> dict[str, Any] | None:
    """What to apply for real in place of `body` where nothing is reported (locked CRDs, the base revision):
    the body itself, a CRD without its conversion webhook, or None for an object that is only ever dry-run."""
    found = call_out(body)
    return body if found is None else found.applied
