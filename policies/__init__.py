"""The policy registry: every rule the validator runs, in the order it reports them.

Add a policy by writing one module in this folder that defines POLICY, then list it here.
`nox -s validate -- --list-policies` and the README's policy table are made from this list.
"""
from __future__ import annotations

from gitops.model.rules import Policy

from . import argocd_applications, argocd_project_fit, configsync_role_fit, container_name, data_keys
from . import destructive_change, duplicate_object, object_size
from . import (deployment_selector_matches, image_pinned, image_pull_policy, no_default_namespace,
               no_plain_secret, port_syntax, probe_port_exposed, probes_set, reference_exists, resources_set,
               route_backend_exists, security_context, service_selects_pods, service_target_port)
from . import (mcs_clusterset_name_form, mcs_clusterset_one_flavour, mcs_clusterset_url_resolves,
               mcs_export_api_version, mcs_export_consistent, mcs_export_has_service, mcs_export_system_namespace,
               mcs_export_unnamed_port, mcs_fleet_size, mcs_handwritten_serviceimport,
               mcs_local_name_not_served, mcs_namespace_sameness, mcs_no_committed_status)

REGISTRY: tuple[Policy, ...] = (
    duplicate_object.POLICY,
    image_pinned.POLICY,
    image_pull_policy.POLICY,
    resources_set.POLICY,
    probes_set.POLICY,
    probe_port_exposed.POLICY,
    port_syntax.POLICY,
    container_name.POLICY,
    data_keys.POLICY,
    object_size.POLICY,
    security_context.POLICY,
    deployment_selector_matches.POLICY,
    service_selects_pods.POLICY,
    service_target_port.POLICY,
    route_backend_exists.POLICY,
    reference_exists.POLICY,
    no_plain_secret.POLICY,
    no_default_namespace.POLICY,
    argocd_applications.POLICY,
    argocd_project_fit.POLICY,
    configsync_role_fit.POLICY,
    destructive_change.POLICY,
    mcs_export_has_service.POLICY,
    mcs_export_api_version.POLICY,
    mcs_clusterset_url_resolves.POLICY,
    mcs_local_name_not_served.POLICY,
    mcs_namespace_sameness.POLICY,
    mcs_export_consistent.POLICY,
    mcs_clusterset_name_form.POLICY,
    mcs_no_committed_status.POLICY,
    mcs_handwritten_serviceimport.POLICY,
    mcs_export_system_namespace.POLICY,
    mcs_export_unnamed_port.POLICY,
    mcs_clusterset_one_flavour.POLICY,
    mcs_fleet_size.POLICY,
)
