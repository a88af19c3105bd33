"""The validate cache (<cache folder>/validate/): a second run re-uses every unchanged overlay's build, parse
and schema verdict, still runs the stale check and every policy, and never trusts a bad entry."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from conftest import PROJECT, edit
from gitops import build, cache, cachefs, cli, fleetgen, pipeline, proc, schemacheck, schemas
from policies import REGISTRY

CLUSTERS, SERVICES = 3, 3


@pytest.fixture
def fleet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A rendered fleet with a cross-cluster error (a caller's URL names a service nobody exports) and a
    schema error, and a cache folder of its own (the schema folders shared, they are slow to make)."""
    root = tmp_path / "fleet"
    fleetgen.generate(root, CLUSTERS, SERVICES)
    assert cli.main(["--root", str(root), "render"]) == 0
    edit(root, "overlays/cluster-1/payments-upstreams.yaml", "http://inventory.identity", "http://nosuch.identity")
    edit(root, "overlays/cluster-2/catalog-upstreams.yaml", "\ndata:\n", "\nbogusField: 1\ndata:\n")
    assert cli.main(["--root", str(root), "render"]) == 0
    folder = tmp_path / "cache"
    cachefs.seed(folder, Path(os.environ["GITOPS_CACHE_DIR"]))
    monkeypatch.setenv("GITOPS_CACHE_DIR", str(folder))
    return root


def _findings(root: Path, **options: Any) -> list[tuple]:
    result = pipeline.validate(root, REGISTRY, pipeline.Options(**options))
    return [(f.rule, f.cluster, f.message, str(f.location)) for f in result.findings]


class _Spy:
    """Records which clusters kustomize builds and how often kubeconform starts."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.built: list[str] = []
        self.schema_runs = 0
        real_build, real_started = build.build_all, schemacheck.started

        def build_all(kustomize, clusters, *args, **kwargs):  # type: ignore[no-untyped-def]
            self.built += [c.name for c in clusters]
            return real_build(kustomize, clusters, *args, **kwargs)

        def started(*args, **kwargs):  # type: ignore[no-untyped-def]
            self.schema_runs += 1
            return real_started(*args, **kwargs)

        monkeypatch.setattr(build, "build_all", build_all)
        monkeypatch.setattr(schemacheck, "started", started)


def _entries(kind: str) -> list[Path]:
    return sorted((Path(os.environ["GITOPS_CACHE_DIR"]) / cache.FOLDER / kind).rglob("*.json"))


def test_a_second_run_reuses_everything_and_reports_the_same(fleet: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cold = _findings(fleet)
    rules = {rule for rule, *_ in cold}
    assert {"mcs-clusterset-url-resolves", "schema"} <= rules, cold
    spy = _Spy(monkeypatch)
    assert _findings(fleet) == cold
    assert spy.built == [] and spy.schema_runs == 0  # neither kustomize nor kubeconform ran
    assert _findings(fleet, cache=False) == cold
    # kubeconform twice: the bootstrap objects (started before the builds), then the clusters' objects
    assert spy.built == [f"cluster-{i}" for i in range(1, CLUSTERS + 1)] and spy.schema_runs == 2


def test_the_stale_check_still_runs_on_a_warm_cache(fleet: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _findings(fleet)
    spy = _Spy(monkeypatch)
    target = sorted((fleet / "clusters" / "cluster-3").rglob("*.yaml"))[0]
    target.write_text(target.read_text() + "# hand edit\n")
    stale = [f for f in _findings(fleet) if f[0] == "rendered-up-to-date"]
    assert [(f[1], f[3].split(":")[0]) for f in stale] == [("cluster-3", target.relative_to(fleet).as_posix())]
    assert spy.built == []


def test_a_changed_file_rebuilds_only_the_overlays_that_read_it(fleet: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _findings(fleet)
    edit(fleet, "overlays/cluster-3/kustomization.yaml", "resources:\n", "resources:\n  # a comment\n")
    spy = _Spy(monkeypatch)
    _findings(fleet)
    assert spy.built == ["cluster-3"]
    # A file the closure walk does not name (a path inside a transformer's config, say) still counts:
    # the load restrictor keeps a build inside its kustomizations' folders, and the key hashes them whole.
    (fleet / "overlays" / "cluster-2" / "transformer-patch.yaml").write_text("# read by a transformer\n")
    spy.built.clear()
    _findings(fleet)
    assert spy.built == ["cluster-2"]


@pytest.mark.parametrize("damage", ["flipped byte", "truncated", "other format", "foreign entry", "not json"])
def test_a_bad_entry_is_rebuilt_never_trusted(fleet: Path, monkeypatch: pytest.MonkeyPatch, damage: str) -> None:
    cold = _findings(fleet)
    builds = _entries("builds")
    assert len(builds) == CLUSTERS
    victim = builds[0]
    raw = victim.read_bytes()
    if damage == "flipped byte":
        victim.write_bytes(raw.replace(b"kind: ", b"kind:  ", 1))
    elif damage == "truncated":
        victim.write_bytes(raw[:len(raw) // 2])
    elif damage == "other format":
        victim.write_bytes(raw.replace(cache.FORMAT.encode(), b"gitops-validate-cache/0", 1))
    elif damage == "foreign entry":  # another overlay's intact entry under this one's name
        victim.write_bytes(builds[1].read_bytes())
    else:
        victim.write_bytes(b"\x00\xff garbage")
    [schema_entry] = _entries("schema")  # and a schema verdict edited to blame another field
    assert b"bogusField" in schema_entry.read_bytes()
    schema_entry.write_bytes(schema_entry.read_bytes().replace(b"bogusField", b"otherField"))
    spy = _Spy(monkeypatch)
    assert _findings(fleet) == cold
    # one build; kubeconform again for every verdict of the damaged entry: the bootstrap objects' run and the clusters'
    assert len(spy.built) == 1 and spy.schema_runs == 2
    spy.built.clear()
    assert _findings(fleet) == cold  # rewritten: trusted again
    assert spy.built == []


def test_entries_unused_for_long_are_pruned(fleet: Path) -> None:
    _findings(fleet)
    first = _entries("builds")
    for path in first:
        os.utime(path, (0, 0))  # as if written long ago
    edit(fleet, "overlays/cluster-3/kustomization.yaml", "resources:\n", "resources:\n  # a comment\n")
    _findings(fleet)  # re-uses (and so keeps) two entries, writes one, and prunes cluster-3's old one
    now = _entries("builds")
    assert len(now) == CLUSTERS and len(set(first) - set(now)) == 1


def test_cli_no_cache_builds_everything(fleet: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _findings(fleet)
    spy = _Spy(monkeypatch)
    assert cli.main(["--root", str(fleet), "validate", "--no-cache", "--format", "json"]) == 1
    assert len(spy.built) == CLUSTERS


# Modules a warm validate has no use for (issue 15, start-up time): the diff machinery, the round-trip YAML
# of `gitops new`, the report formats not asked for, HTTP, package metadata, the build thread pool.
_NOT_ON_A_WARM_RUN = ("gitops.diff", "gitops.diffreport", "ruamel.yaml", "shtab",
                      "gitops.report.junit", "gitops.report.sarif", "urllib.request", "importlib.metadata",
                      "concurrent.futures", "jsonschema")


def test_a_warm_run_imports_only_what_it_uses(fleet: Path) -> None:
    """A fresh interpreter validates the warm fleet (through the CLI, as `nox -s validate` does) and lists
    what it imported: the same findings, and none of the modules only other commands or a cold run need."""
    assert cli.main(["--root", str(fleet), "validate"]) == 1  # cold: fills the cache
    script = ("import sys; from gitops import cli; code = cli.main(['--root', sys.argv[1], 'validate', '--format', "
              "'json']); print('\\n'.join(sorted(sys.modules)), file=sys.stderr); sys.exit(code)")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(PROJECT / "scripts"), str(PROJECT)]))
    done = proc.run([sys.executable, "-c", script, str(fleet)], what="warm validate", timeout=120, env=env)
    assert done.returncode == 1, done.stderr
    assert {"mcs-clusterset-url-resolves", "schema"} <= {f["rule"] for f in json.loads(done.stdout)["findings"]}
    imported = set(done.stderr.split())
    assert "gitops.report.json" in imported and "gitops.cache" in imported  # the listing is real
    assert sorted(m for m in _NOT_ON_A_WARM_RUN if m in imported) == []


def test_the_schema_package_is_keyed_by_its_version_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """kubernetes-validate enters the key through its version.py (no importlib.metadata on a warm run): a
    different version changes the key; without the file, the metadata version is used."""
    package = tmp_path / "kubernetes_validate"
    (package / "kubernetes-json-schema").mkdir(parents=True)
    monkeypatch.setattr(schemas, "_k8s_base", lambda: package / "kubernetes-json-schema")
    (package / "version.py").write_text("__version__ = '1.37.0'\n")
    first = cache._schema_package()
    (package / "version.py").write_text("__version__ = '1.38.0'\n")
    assert cache._schema_package() != first
    (package / "version.py").unlink()
    assert cache._schema_package() == cache._package_version("kubernetes-validate") != "absent"
