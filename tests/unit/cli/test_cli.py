"""The command line's documented surface: the policy list, and docs/policies.md that documents it."""
from __future__ import annotations

import re

import pytest

from conftest import PROJECT, findings_by_rule
from gitops.cli import runs
from gitops import cli
from gitops.run import pipeline
from gitops.model.rules import Policy, rules_table
from policies import REGISTRY


def test_docs_policy_table_matches_registry() -> None:
    doc = (PROJECT / "docs" / "policies.md").read_text()
    table = re.search(r"<!-- policies:start -->\n(.*?)<!-- policies:end -->", doc, re.S)
    assert table, "docs/policies.md lacks the policies:start/end markers"
    assert table.group(1) == rules_table(runs.listed_rules(REGISTRY), markdown=True)


def test_list_policies_prints_every_rule_once(capsys) -> None:
    assert cli.main(["validate", "--list-policies"]) == 0
    ids = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert ids == [r.id for r in runs.listed_rules(REGISTRY)]
    assert len(set(ids)) == len(ids)


def test_every_policy_is_documented() -> None:
    for policy in REGISTRY:
        assert re.fullmatch(r"[a-z][a-z0-9-]+", policy.id)
        assert policy.summary and policy.rationale and policy.fix, policy.id
        assert policy.scope in ("cluster", "clusterset"), policy.id


def test_repository_validates_clean(capsys) -> None:
    """The repository as committed: what `nox -s validate` checks on every pull request."""
    code = cli.main(["--root", str(PROJECT), "validate", "--format", "json"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert '"findings": []' in out


@pytest.fixture(scope="module")
def repository_findings() -> dict[str, list[str]]:
    """Every policy's findings on the repository as committed, from one build."""
    return findings_by_rule(PROJECT, REGISTRY)


@pytest.mark.parametrize("policy", REGISTRY, ids=[p.id for p in REGISTRY])
def test_every_policy_is_quiet_on_the_repository(repository_findings: dict[str, list[str]], policy: Policy) -> None:
    assert repository_findings[policy.id] == []
