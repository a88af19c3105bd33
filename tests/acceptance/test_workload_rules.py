"""The workload rules measured against kube-linter's shared checks, each through validate (the CLI):
deprecated serviceAccount, tcpSocket probes on UDP ports, runAsGroup 0, seccompProfile, port syntax;
and rule configuration (policies/config.yaml) with its effective values in --list-policies."""
from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pytest

from conftest import edit, snippet_line, write
from gitops import cli
from policies import port_syntax

DEPLOY = "base/producer/deployment.yaml"
SERVICE = "base/producer/service.yaml"
WHO = "cluster-2 Deployment istio-apps/sample-producer-v1"
POD_SC = "automountServiceAccountToken: false\n      securityContext:"


def _validate(root: Path, capsys, *extra: str) -> tuple[int, list[dict]]:
    capsys.readouterr()
    code = cli.main(["--root", str(root), "validate", "--format", "json", *extra])
    out = capsys.readouterr().out
    return code, json.loads(out)["findings"] if out.strip() else []


def _rendered(root: Path, capsys) -> None:
    assert cli.main(["--root", str(root), "render"]) == 0


CASES = [
    ("service-account-deprecated", "reference-exists",
     [(DEPLOY, "serviceAccountName: sample-producer-sa", "serviceAccount: sample-producer-sb")],
     f"{WHO} uses ServiceAccount istio-apps/sample-producer-sb, but cluster-2 has no such ServiceAccount "
     "(ServiceAccounts in istio-apps: sample-producer-sa)", DEPLOY, "serviceAccount: sample-producer-sb"),
    ("tcp-probe-on-udp", "probe-port-exposed",
     [(DEPLOY, "              protocol: TCP\n", "              protocol: TCP\n            - name: stats\n"
                                               "              containerPort: 8125\n              protocol: UDP\n"),
      (DEPLOY, "            httpGet:\n              path: /actuator/health/liveness\n              port: 8080",
       "            tcpSocket:\n              port: stats")],
     f"{WHO} container sample-producer livenessProbe tcpSocket port stats is declared as UDP only, and a tcpSocket "
     "probe connects over TCP", DEPLOY, "port: stats"),
    ("run-as-group-0", "security-context", [(DEPLOY, "runAsGroup: 1000", "runAsGroup: 0")],
     f"{WHO} container sample-producer runs with the root group (runAsGroup 0)", DEPLOY, "runAsGroup: 0"),
    ("seccomp-unset", "security-context", [(DEPLOY, "        seccompProfile:\n          type: RuntimeDefault\n", "")],
     f"{WHO} container sample-producer sets no seccompProfile (RuntimeDefault or Localhost, in the pod or container "
     "securityContext)", DEPLOY, POD_SC),
    ("seccomp-unconfined", "security-context", [(DEPLOY, "type: RuntimeDefault", "type: Unconfined")],
     f"{WHO} container sample-producer has seccompProfile type Unconfined; use RuntimeDefault or Localhost",
     DEPLOY, "type: Unconfined"),
    ("port-name-long", "port-syntax", [(DEPLOY, "- name: http\n", "- name: sample-producer-http\n")],
     f"{WHO} container sample-producer port name sample-producer-http is 20 characters (at most 15)",
     DEPLOY, "- name: sample-producer-http"),
    ("container-port-range", "port-syntax", [(DEPLOY, "containerPort: 8080", "containerPort: 80800")],
     f"{WHO} container sample-producer containerPort 80800 is outside 1-65535", DEPLOY, "containerPort: 80800"),
    ("target-port-range", "port-syntax", [(SERVICE, "targetPort: http", "targetPort: 70000")],
     "cluster-2 Service istio-apps/sample-producer targetPort 70000 is outside 1-65535", SERVICE, "targetPort: 70000"),
    ("target-port-name", "port-syntax", [(SERVICE, "targetPort: http", "targetPort: Http_Port")],
     "cluster-2 Service istio-apps/sample-producer targetPort Http_Port may hold only lower-case letters, digits "
     "and hyphens, and neither start nor end with a hyphen", SERVICE, "targetPort: Http_Port"),
]


@pytest.mark.parametrize(("rule", "edits", "message", "file", "snippet"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_rule_through_validate(repo: Path, capsys, rule: str, edits: list, message: str, file: str,
                               snippet: str) -> None:
    for rel, old, new in edits:
        edit(repo, rel, old, new)
    _rendered(repo, capsys)
    code, findings = _validate(repo, capsys)
    assert code == 1
    mine = [f for f in findings if f["rule"] == rule]
    assert [f["message"] for f in mine] == [message]
    assert (mine[0]["location"]["path"], mine[0]["location"]["line"]) == (file, snippet_line(repo, file, snippet))


@pytest.mark.parametrize(("name", "why"), [
    ("http", None), ("grpc-web", None), ("h2c", None), ("a" * 15, None), ("8080", "needs at least one letter"),
    ("a" * 16, "is 16 characters (at most 15)"), ("-http", port_syntax.name_problem("-x")),
    ("http-", port_syntax.name_problem("x-")), ("grpc--web", "has two hyphens in a row"),
    ("HTTP", port_syntax.name_problem("X")), ("http_port", port_syntax.name_problem("_")),
])
def test_port_names(name: str, why: str | None) -> None:
    assert port_syntax.name_problem(name) == why


CONFIG = """\
disabled: [image-pull-policy]
rules:
  mcs-fleet-size:
    severity: error
    parameters:
      maxClusters: 1
  security-context:
    parameters: {forbidRunAsGroupZero: false}
"""


def test_config_sets_severity_parameters_and_disables(repo: Path, capsys) -> None:
    edit(repo, DEPLOY, "runAsGroup: 1000", "runAsGroup: 0")
    write(repo, "policies/config.yaml", CONFIG)
    _rendered(repo, capsys)
    code, findings = _validate(repo, capsys)
    assert code == 1
    assert [(f["rule"], f["severity"], f["message"]) for f in findings] == [
        ("mcs-fleet-size", "error", "clusterset fleet-prod has 2 GKE clusters; GKE multi-cluster Services supports "
                                    "at most 1 clusters per fleet")]
    capsys.readouterr()
    assert cli.main(["--root", str(repo), "validate", "--list-policies"]) == 0
    listed = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert listed["mcs-fleet-size"].split()[1] == "error" and "[maxClusters=1]" in listed["mcs-fleet-size"]
    assert listed["image-pull-policy"].split()[1] == "off"
    assert "[forbidRunAsGroupZero=false]" in listed["security-context"]


def test_shared_parameter_address_keys(repo: Path, capsys) -> None:
    """`parameters: addressKeys` reaches every resolver rule: a bare short name under *_PEER becomes a call."""
    edit(repo, "overlays/cluster-1/producer-url.yaml", "  PRODUCER_URL:", "  PRODUCER_PEER: sample-producer\n  PRODUCER_URL:")
    _rendered(repo, capsys)
    assert _validate(repo, capsys)[0] == 0
    write(repo, "policies/config.yaml", "parameters:\n  addressKeys: ['*_PEER', '*_URL']\n")
    code, findings = _validate(repo, capsys)
    assert code == 1
    assert [f["rule"] for f in findings] == ["mcs-local-name-not-served"]


@pytest.mark.parametrize(("text", "error"), [
    ("rules:\n  mcs-fleet-sise: {}\n", "policies/config.yaml:2:3: unknown field 'mcs-fleet-sise' in 'rules'"),
    ("rules:\n  mcs-fleet-size:\n    parameters: {maxClusters: many}\n",
     "policies/config.yaml:3:31: parameter 'maxClusters' must be an integer"),
    ("rules:\n  mcs-fleet-size:\n    severity: fatal\n", "policies/config.yaml:3:15: 'severity' is 'fatal'"),
    ("disabled: [schema-check]\n", "policies/config.yaml:1:12: 'disabled' names 'schema-check', which is not a rule"),
    ("parameters:\n  addressKey: []\n", "policies/config.yaml:2:3: unknown field 'addressKey' in 'parameters'"),
])
def test_bad_config_is_bad_input(repo: Path, capsys, text: str, error: str) -> None:
    write(repo, "policies/config.yaml", text)
    assert cli.main(["--root", str(repo), "validate"]) == 2
    assert error in capsys.readouterr().err


def test_a_waiver_for_a_disabled_rule_is_unused_not_bad_input(repo: Path, capsys) -> None:
    write(repo, "policies/config.yaml", "disabled: [image-pinned]\n")
    write(repo, "policies/waivers.yaml", "- rule: image-pinned\n  target: {cluster: cluster-1}\n  reason: rollout\n"
                                         f"  expires: {date.today() + timedelta(days=30)}\n")
    _rendered(repo, capsys)
    code, findings = _validate(repo, capsys)
    assert code == 0
    assert [f["rule"] for f in findings] == ["waiver-unused"]
