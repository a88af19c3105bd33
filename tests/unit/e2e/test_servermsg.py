"""Reading a kube-apiserver refusal or warning (e2e/servermsg.py): the field it names, immutable refusals,
Warning headers."""
from __future__ import annotations

import pytest

from gitops.e2e import servermsg


@pytest.mark.parametrize("field, message, path", [
    ("metadata.labels", 'Invalid value: "-bad-": a valid label must ...', ("metadata", "labels", "version")),
    (None, 'failed to create typed patch object (/v1, Kind=Service) ns/x: .spec.ports: duplicate entries for key '
           '[port=8080,protocol="TCP"]', ("spec", "ports", 1)),
    ("spec.template.spec.containers[0].image", "Required value", ("spec", "template", "spec", "containers", 0, "image")),
    (None, '.spec.template.spec.containers[name="app"].image: x', ("spec", "template", "spec", "containers", 0, "image")),
])
def test_server_messages_name_a_path_into_the_object(field, message, path) -> None:
    body = {"metadata": {"labels": {"app": "a", "version": "-bad-"}},
            "spec": {"ports": [{"port": 8080, "name": "a"}, {"port": 8080, "protocol": "TCP", "name": "b"}],
                     "template": {"spec": {"containers": [{"name": "app", "image": ""}]}}}}
    assert servermsg.field_path(field, message, body) == path


@pytest.mark.parametrize("message, expected", [
    ("spec.selector: Invalid value: v1.LabelSelector{...}: field is immutable", True),
    ('spec.clusterIPs[0]: Invalid value: []string{"10.0.0.1"}: may not change once set', True),
    ("spec: Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template' "
     "are forbidden", True),
    ('metadata.labels: Invalid value: "-bad-": a valid label must ...', False),
])
def test_immutable_refusals_are_recognised(message: str, expected: bool) -> None:
    assert servermsg.immutable(message) is expected


def test_warning_headers_are_read() -> None:
    headers = {"Warning": '299 - "apps/v1beta1 Deployment is deprecated", 299 - "would violate PodSecurity \\"x\\""'}
    assert servermsg.warnings(headers) == ["apps/v1beta1 Deployment is deprecated", 'would violate PodSecurity "x"']
