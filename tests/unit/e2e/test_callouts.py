"""Objects that make kube-apiserver call out (e2e/callouts.py), and the neutral form e2e applies instead."""
from __future__ import annotations

from gitops.e2e import callouts


def test_what_calls_out_and_its_neutral_form() -> None:
    """callouts: admission webhooks and APIServices with a Service are dry-run only; a CRD (in a folder, locked,
    or of the base revision) loses only its conversion webhook; everything else is applied as it is."""
    hook = {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
            "webhooks": [{"name": "m.example.com", "clientConfig": {"service": {"name": "s", "namespace": "n"}}}]}
    remote = {"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
              "spec": {"group": "g", "service": {"name": "s", "namespace": "n"}}}
    local = {"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService", "spec": {"group": "g"}}
    crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "w"},
           "spec": {"group": "g", "conversion": {"strategy": "Webhook", "webhook": {"clientConfig": {"url": "u"}}}}}
    plain = {"apiVersion": "v1", "kind": "ConfigMap", "data": {"url": "https://127.0.0.1:1"}}
    assert callouts.call_out(hook).path == ("webhooks", 0, "clientConfig")
    assert callouts.neutral(hook) is None and callouts.neutral(remote) is None
    assert callouts.call_out(remote).path == ("spec", "service")
    assert callouts.neutral(local) is local and callouts.neutral(plain) is plain
    converted = callouts.neutral(crd)
    assert converted is not None and converted["spec"] == {"group": "g", "conversion": {"strategy": "None"}}
    assert crd["spec"]["conversion"]["strategy"] == "Webhook"  # the object read from the repository is unchanged
    assert callouts.call_out(crd).path == ("spec", "conversion", "webhook")
