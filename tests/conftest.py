"""Shared fixtures: a private copy of this repository and the real pipeline stages over it."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import pytest

from gitops.run import context
from gitops.run.stages import policies as engine
from gitops.run import pipeline
from gitops.model.findings import Finding, Severity
from gitops.model.objects import Objects
from gitops.model.rules import Policy
from gitops.run.sourcemap import SourceMap

PROJECT = Path(__file__).resolve().parent.parent
SOURCES = ("base", "components", "overlays", "inventory.yaml", "crds.lock.yaml", "schemas", "policies/waivers.yaml")
SHARED_CRDS = PROJECT.parent / "shared" / "crds"


@pytest.fixture(scope="session", autouse=True)
def _shared_env() -> None:
    """Tests reuse the project's pinned tools and schema cache, and read CRDs from ../shared/crds when it
    exists (a test-only default: CI sets GITOPS_CRD_MIRROR in .ci/run; users' runs fetch the locked URLs)."""
    os.environ.setdefault("GITOPS_TOOLS_DIR", str(PROJECT / ".tools" / "bin"))
    os.environ.setdefault("GITOPS_CACHE_DIR", str(PROJECT / ".cache"))
    if SHARED_CRDS.is_dir():
        os.environ.setdefault("GITOPS_CRD_MIRROR", str(SHARED_CRDS))
    # The tooling's one CRD lookup (infra/crds.py), without the network tests never use: a CRD that cannot be read
    # is said now, before any test builds a tool, rather than by every test that validates.
    from gitops.infra import crds
    from gitops.model.errors import GitopsError

    try:
        crds.materialize(PROJECT, Path(os.environ["GITOPS_CACHE_DIR"]), os.environ.get("GITOPS_CRD_MIRROR") or None,
                         urls=False)
    except GitopsError as exc:
        pytest.exit(f"tests: the locked CRDs cannot be read offline: {exc}", returncode=2)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A copy of the repository's sources (no clusters/): edit it freely."""
    return copy_sources(tmp_path / "repo", SOURCES)


@pytest.fixture
def rendered(repo: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """A copy of the repository's sources, rendered (clusters/ and bootstrap/ written)."""
    from gitops import cli

    assert cli.main(["--root", str(repo), "render"]) == 0
    capsys.readouterr()
    return repo


def tree(root: Path) -> dict[str, bytes]:
    """Every file under `root` and its bytes: what a refusal must leave as it was."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def validate_clean(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`gitops validate` of `root` exits 0 with no finding."""
    from gitops import cli

    code = cli.main(["--root", str(root), "validate", "--format", "json"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert '"findings": []' in out


def copy_sources(root: Path, names: Sequence[str]) -> Path:
    """`root`, made, holding the project's files and folders `names` (those that exist) as they are now."""
    root.mkdir()
    for name in names:
        src = PROJECT / name
        if src.is_dir():
            shutil.copytree(src, root / name)
        elif src.is_file():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, root / name)
    return root


def project_copy(target: Path) -> Path:
    """The project's files as they are now (tracked and new, nothing git-ignored) copied to `target`, for
    tests that build or clone the project without writing into it (pip's build/, pre-commit's clone)."""
    listed = subprocess.run(["git", "-C", str(PROJECT), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            capture_output=True, text=True, timeout=120, check=True).stdout
    for rel in filter(None, listed.split("\0")):
        src = PROJECT / rel
        if src.is_file():
            (target / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target / rel)
    return target


def run_nox(*args: str, cwd: Path = PROJECT, env: dict[str, str] | None = None,
            timeout: float = 600) -> subprocess.CompletedProcess:
    """`nox ARGS` as a person runs it (nox as pinned in requirements.txt, the README's version), outside this
    test session's own nox session; stdout and stderr (nox's log) together in `stdout`. Pip never reaches an
    index from here (PIP_NO_INDEX), nor virtualenv (no seed-wheel update): a test that needed a download fails
    instead of leaving loopback."""
    outer = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "NOX_CURRENT_SESSION")}
    offline = {"PIP_NO_INDEX": "1", "VIRTUALENV_NO_PERIODIC_UPDATE": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    return subprocess.run([sys.executable, "-m", "nox", *args], cwd=cwd, env={**outer, **offline, **(env or {})},
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout)


def edit(root: Path, rel: str, old: str, new: str) -> None:
    """Replace one exact snippet in a file; fail loudly when it is not there (a test that edits nothing proves nothing)."""
    path = root / rel
    text = path.read_text()
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times in {rel}"
    path.write_text(text.replace(old, new))


def cluster_entry(name: str, location: str, extra: str = "", sync: str = "argocd",
                  overlay: str = "overlays/cluster-2") -> str:
    """An inventory.yaml cluster entry (of clusterset fleet-prod, GKE, 1.33) to append under `clusters:`."""
    return (f"  - name: {name}\n    clusterset: fleet-prod\n    location: {location}\n"
            f"    kubernetesVersion: \"1.33\"\n    mcs: gke\n    sync: {sync}\n    overlay: {overlay}\n{extra}")


# Every Argo CD and Config Sync setting the inventory takes (issue 23), to follow `  project: mcs-fleet` and
# replace cluster-2's `      auth: none` in inventory.yaml.
ENGINE_SETTINGS_ARGOCD = """  project: mcs-fleet
  syncOptions: {createNamespace: true}
  maxUpdate: {1: 25%}
  application:
    labels: {team: platform}
    annotations: {notifications.argoproj.io/subscribe.on-sync-failed.slack: fleet}
    ignoreDifferences:
    - {group: apps, kind: Deployment, jsonPointers: [/spec/replicas]}
    revisionHistoryLimit: 5
    managedNamespaceMetadata: {labels: {owner: fleet}}
  appProject:
    namespaceResourceBlacklist: [{group: '', kind: ResourceQuota}]
    roles: [{name: ci, description: CI syncs, policies: ['p, proj:mcs-fleet:ci, applications, sync, mcs-fleet/*, allow']}]
    syncWindows: [{kind: deny, schedule: '0 22 * * *', duration: 8h, applications: ['*'], manualSync: true}]
    orphanedResources: {warn: true, ignore: [{kind: ConfigMap, name: kube-root-ca.crt}]}
    sourceNamespaces: [argocd-apps]
    destinationServiceAccounts: [{server: '*', namespace: '*', defaultServiceAccount: argocd-sync}]
"""
ENGINE_SETTINGS_CONFIG_SYNC = """      auth: token
      secretRef: git-creds
      caCertSecretRef: git-ca
      proxy: https://proxy.example.com:3128
      period: 30s
      override:
        resources: [{containerName: reconciler, cpuRequest: 100m, memoryLimit: 512Mi}]
        logLevels: [{containerName: git-sync, logLevel: 5}]
"""


def write(root: Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def build_fleet(root: Path) -> Objects:
    """Inventory + the real kustomize build of every overlay, as policies see it (with the run's kind scopes
    and Argo CD AppProject)."""
    _, resources = pipeline.build(root)
    return context.Run(root).objects(resources)


def sources(root: Path, objects: Objects) -> SourceMap:
    """Source lines as the validator finds them: from an annotated build of a cluster, when needed."""
    return context.source_map(root, objects.inventory, context.kustomize(root))


def run_policies(root: Path, policies: Sequence[Policy]) -> list[Finding]:
    """Findings of some policies over the repository at `root`, with their source locations."""
    objects = build_fleet(root)
    return engine.run_policies(policies, objects, sources(root, objects))


def run_policy(root: Path, policy: Policy) -> list[Finding]:
    return run_policies(root, [policy])


@dataclass(frozen=True)
class Case:
    """One way to make a rule fire: edits (file, old, new), added files, the exact message, and where it points."""

    id: str
    policy: Policy
    edits: tuple[tuple[str, str, str], ...]
    message: str
    file: str
    line_of: str  # a snippet unique in `file` after the edits; the finding points where it ends
    writes: tuple[tuple[str, str], ...] = ()
    severity: Severity | None = None


def snippet_line(root: Path, rel: str, snippet: str) -> int:
    """The line on which `snippet` (unique in the file) ends, ignoring a trailing newline."""
    text = (root / rel).read_text()
    assert text.count(snippet) == 1, f"{snippet!r} occurs {text.count(snippet)} times in {rel}"
    return text[:text.index(snippet) + len(snippet.rstrip("\n"))].count("\n") + 1


def assert_fires(root: Path, case: Case) -> Finding:
    """Apply the case's edits, run its policy through the real build, and check message, severity and line."""
    for rel, text in case.writes:
        write(root, rel, text)
    for rel, old, new in case.edits:
        edit(root, rel, old, new)
    by_message = {f.message: f for f in run_policy(root, case.policy)}
    assert case.message in by_message, "\n".join(by_message)
    finding = by_message[case.message]
    assert finding.rule == case.policy.id
    assert finding.severity == (case.severity or case.policy.severity)
    assert finding.location is not None
    assert (finding.location.path, finding.location.line) == (case.file, snippet_line(root, case.file, case.line_of))
    return finding


def findings_by_rule(root: Path, policies: tuple[Policy, ...]) -> dict[str, list[str]]:
    """Each rule's findings (location and message) on the repository at `root`, from one build."""
    out: dict[str, list[str]] = {p.id: [] for p in policies}
    for f in run_policies(root, policies):
        out[f.rule].append(f"{f.location}: {f.message}")
    return out


def pytest_terminal_summary(terminalreporter) -> None:  # type: ignore[no-untyped-def]
    """The bad-input corpus's counts (tests/badinput/test_badinput.py), when it ran."""
    import sys

    module = sys.modules.get("test_badinput")
    stats = getattr(module, "STATS", None)
    if stats and stats["cases"]:
        terminalreporter.write_line(
            f"bad-input corpus: {stats['cases']} cases, {stats['file_line']} clear errors with file:line, "
            f"{stats['file_only']} naming the file (no line), {stats['tracebacks']} tracebacks, "
            f"{stats['writes_outside']} writes outside, {stats['hangs']} hangs, {stats['temp_left']} with temp files left")
