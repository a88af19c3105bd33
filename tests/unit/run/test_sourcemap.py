"""Exact source lines: objects matched by exact kind, namespace and name (name transformers undone),
inline patches (strategic merge and JSON6902) at their own line, generator literals and files at theirs.

Every expected line is looked up by a snippet of the file (`snippet_line`), never written as a number.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import PROJECT, edit, run_policy, snippet_line, write
from gitops.model.rules import Policy
from policies import mcs_local_name_not_served, mcs_namespace_sameness, service_selects_pods

SERVICE = "base/producer/service.yaml"
C1_KUST = "overlays/cluster-1/kustomization.yaml"
C2_KUST = "overlays/cluster-2/kustomization.yaml"

ADMIN = """\
---
apiVersion: v1
kind: Service
metadata:
  name: sample-producer-admin
  labels:
    app: sample-producer
spec:
  selector:
    app: {selector}
  ports:
    - name: admin
      protocol: TCP
      port: 8080
      targetPort: http
"""


def _located(root: Path, policy: Policy, contains: str) -> tuple[str, int]:
    found = [f for f in run_policy(root, policy) if contains in f.message]
    assert len(found) == 1, [f.message for f in run_policy(root, policy)]
    assert found[0].location is not None
    return found[0].location.path, found[0].location.line


def test_a_name_that_contains_another_is_not_that_object(repo: Path) -> None:
    """Two Services in one file, one named like the start of the other: the typo is reported in its own."""
    text = (repo / SERVICE).read_text() + ADMIN.format(selector="sample-producr")
    write(repo, SERVICE, text)
    assert _located(repo, service_selects_pods.POLICY, "sample-producer-admin") == \
        (SERVICE, snippet_line(repo, SERVICE, "app: sample-producr"))


@pytest.mark.parametrize("transformers", ["namePrefix: c2-\n", "nameSuffix: -east\n",
                                          "namePrefix: c2-\nnameSuffix: -east\nnamespace: producers\n"])
def test_name_transformers_are_undone_exactly(repo: Path, transformers: str) -> None:
    """namePrefix/nameSuffix/namespace in the overlay: the source is still found by its exact name."""
    write(repo, SERVICE, (repo / SERVICE).read_text() + ADMIN.format(selector="sample-producer"))
    edit(repo, SERVICE, "selector:\n    app: sample-producer\n  ports:\n    - name: http",
         "selector:\n    app: sample-prod\n  ports:\n    - name: http")
    edit(repo, C2_KUST, "resources:\n", f"{transformers}resources:\n")
    assert _located(repo, service_selects_pods.POLICY, "selects app=sample-prod,") == \
        (SERVICE, snippet_line(repo, SERVICE, "app: sample-prod\n"))


JSON6902 = """\
patches:
  - target:
      kind: Namespace
      name: istio-apps
    patch: |-
      - op: add
        path: /metadata/labels/team
        value: producers
      - op: replace
        path: /metadata/labels/istio-injection
        value: disabled
"""

STRATEGIC = """\
patches:
  - patch: |-
      apiVersion: v1
      kind: Namespace
      metadata:
        name: istio-apps
        labels:
          istio-injection: disabled
"""

JSON6902_WHOLE = """\
patches:
  - target: {kind: Namespace, name: istio-.*}
    patch: |-
      - op: replace
        path: /metadata/labels
        value:
          istio-injection: disabled
"""


@pytest.mark.parametrize(("patch", "snippet"), [(JSON6902, "value: disabled"), (STRATEGIC, "istio-injection: disabled"),
                                                (JSON6902_WHOLE, "istio-injection: disabled")],
                         ids=["json6902", "strategic-merge", "json6902-parent"])
def test_an_inline_patch_is_reported_at_its_line(repo: Path, patch: str, snippet: str) -> None:
    """The issue's example: cluster-2's kustomization changes the namespace's label; the base did not."""
    edit(repo, C2_KUST, "components:\n", f"{patch}components:\n")
    assert _located(repo, mcs_namespace_sameness.POLICY, "istio-injection=disabled in cluster-2") == \
        (C2_KUST, snippet_line(repo, C2_KUST, snippet))


def test_a_patch_for_another_object_is_not_the_source(repo: Path) -> None:
    """A later JSON6902 patch that targets another Namespace does not take the line from the one that applies."""
    other = JSON6902.replace("name: istio-apps", "name: other-apps").replace("patches:\n", "")
    edit(repo, C2_KUST, "components:\n", f"{STRATEGIC}{other}components:\n")
    assert _located(repo, mcs_namespace_sameness.POLICY, "istio-injection=disabled in cluster-2") == \
        (C2_KUST, snippet_line(repo, C2_KUST, "istio-injection: disabled"))


GENERATOR = """\
configMapGenerator:
  - name: extra-config
    namespace: istio-apps
    literals:
      - LOG_LEVEL=info
      - PRODUCER_URL=http://sample-producer:8080
    files:
      - producer.properties
"""


def test_a_generator_literal_is_reported_at_its_line(repo: Path) -> None:
    edit(repo, C1_KUST, "patches:\n", f"{GENERATOR}patches:\n")
    write(repo, "overlays/cluster-1/producer.properties", "log.level=info\n")
    assert _located(repo, mcs_local_name_not_served.POLICY, "calls http://sample-producer:8080") == \
        (C1_KUST, snippet_line(repo, C1_KUST, "- PRODUCER_URL=http://sample-producer:8080"))


def test_a_generator_file_is_reported_at_its_entry(repo: Path) -> None:
    edit(repo, C1_KUST, "patches:\n", f"{GENERATOR.replace('http://sample-producer:8080', 'x')}patches:\n")
    write(repo, "overlays/cluster-1/producer.properties", "log.level=info\nproducer.url=http://sample-producer:8080\n")
    assert _located(repo, mcs_local_name_not_served.POLICY, "calls http://sample-producer:8080") == \
        (C1_KUST, snippet_line(repo, C1_KUST, "- producer.properties"))


def test_a_generator_env_file_is_reported_at_its_line(repo: Path) -> None:
    edit(repo, C1_KUST, "patches:\n", "configMapGenerator:\n  - name: env-config\n    namespace: istio-apps\n"
                                      "    envs:\n      - producer.env\npatches:\n")
    write(repo, "overlays/cluster-1/producer.env", "LOG_LEVEL=info\nPRODUCER_URL=http://sample-producer:8080\n")
    assert _located(repo, mcs_local_name_not_served.POLICY, "calls http://sample-producer:8080") == \
        ("overlays/cluster-1/producer.env", snippet_line(repo, "overlays/cluster-1/producer.env", "PRODUCER_URL="))


def test_a_deeply_nested_inline_patch_is_skipped_not_composed(tmp_path: Path) -> None:
    """An inline patch is text inside a scalar, which the file's own depth check never sees; libyaml's
    composer recurses on the C stack, so 100,000 brackets would crash the interpreter. A child process
    runs it, so a crash fails this test instead of ending the suite."""
    code = ("import sys, yaml\nfrom pathlib import Path\nfrom gitops.run.sourcemap import SourceMap\n"
            "node = yaml.ScalarNode('tag:yaml.org,2002:str', 'a: ' + '[' * 100000 + ']' * 100000)\n"
            "print(len(list(SourceMap(Path(sys.argv[1]))._inline('kustomization.yaml', node, None))))\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(PROJECT / "scripts"), str(PROJECT)])}
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path)], env=env, capture_output=True, text=True,
                          timeout=120)
    assert (done.returncode, done.stdout.strip()) == (0, "0"), done.stderr[-2000:]
