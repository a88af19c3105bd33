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
from gitops.run import context
from gitops.run.stages import build, schema as schemacheck
from gitops.run import cache, pipeline
from gitops.infra import cachefs, proc, schemas
from gitops import cli
from gitops.scaffold import fleetgen
from gitops.infra import inventoryfile as inventory
from policies import REGISTRY

pytestmark = pytest.mark.slow  # each case builds a repository cold and warm

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
    result = pipeline.validate(root, REGISTRY, context.Options(**options))
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
_NOT_ON_A_WARM_RUN = ("gitops.diff.compare", "gitops.diff.formats", "ruamel.yaml", "shtab",
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
    assert "gitops.report.json" in imported and "gitops.run.cache" in imported  # the listing is real
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


def _forge(path: Path, payload: Any) -> None:
    """Rewrite an entry as a forger would: the payload edited, its digest recomputed, a MAC under a key of its own."""
    import hashlib
    import hmac

    head = json.loads(path.read_bytes().partition(b"\n")[0])
    body = json.dumps(payload, separators=(",", ":")).encode()
    head["sha256"] = hashlib.sha256(body).hexdigest()
    head["mac"] = hmac.new(b"not the cache's key", body, hashlib.sha256).hexdigest()
    path.write_bytes(json.dumps(head).encode() + b"\n" + body)


def test_a_forged_entry_is_a_miss_never_a_verdict(fleet: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A build without the broken field and a schema verdict of "no problem" for everything, each with its digest
    recomputed: neither is what a run wrote, so both are made again and the errors stay."""
    cold = _findings(fleet)
    assert any(rule == "schema" and "bogusField" in message for rule, _, message, _ in cold)
    [broken] = [p for p in _entries("builds") if b"bogusField" in p.read_bytes()]
    texts = json.loads(broken.read_bytes().partition(b"\n")[2])
    _forge(broken, [t.replace("bogusField: 1\n", "") for t in texts])
    for verdicts in _entries("schema"):
        _forge(verdicts, {sha: [] for sha in json.loads(verdicts.read_bytes().partition(b"\n")[2])})
    spy = _Spy(monkeypatch)
    assert _findings(fleet) == cold
    assert len(spy.built) == 1 and spy.schema_runs == 2
    assert cli.main(["--root", str(fleet), "validate", "--format", "json"]) == 1  # and through the command line


@pytest.mark.parametrize("cached", [True, False], ids=["cache", "no-cache"])
def test_a_replaced_schema_never_hides_a_schema_error(fleet: Path, cached: bool) -> None:
    """The converted schemas are verified on every use, with or without --no-cache: a permissive schema put in
    place of ConfigMap's is found and the schemas made again."""
    folder = Path(os.environ["GITOPS_CACHE_DIR"])
    [minor] = {c.kubernetes_version for c in inventory.load(fleet).clusters}  # the seed may hold other minors too
    [schema] = folder.glob(f"schemas/k8s-*/v{minor}/configmap-v1.json")
    (schema.parent / "permissive").write_text('{"type": "object"}')
    os.replace(schema.parent / "permissive", schema)  # a new file: the seeded hard links stay intact
    findings = _findings(fleet, cache=cached)
    assert any(rule == "schema" and "bogusField" in message for rule, _, message, _ in findings), findings
    assert schema.read_text() != '{"type": "object"}'


def test_links_in_the_cache_folder_are_never_followed(fleet: Path, tmp_path: Path) -> None:
    """A link where a folder of the cache belongs is replaced by a real folder: nothing is written, pruned or read
    outside the cache folder."""
    outside = tmp_path / "outside"
    (outside / "ab").mkdir(parents=True)
    (outside / "ab" / "old.json").write_text("{}")
    os.utime(outside / "ab" / "old.json", (0, 0))  # what pruning would delete, were it to follow the link
    folder = Path(os.environ["GITOPS_CACHE_DIR"]) / cache.FOLDER
    folder.mkdir()
    (folder / "builds").symlink_to(outside)
    (folder / "schema").symlink_to(outside / "ab")
    before = sorted((p.relative_to(outside).as_posix(), p.stat().st_mtime_ns) for p in outside.rglob("*"))
    cold = _findings(fleet)
    assert _findings(fleet) == cold
    assert sorted((p.relative_to(outside).as_posix(), p.stat().st_mtime_ns) for p in outside.rglob("*")) == before
    assert not (folder / "builds").is_symlink() and len(_entries("builds")) == CLUSTERS


def test_a_fifo_in_place_of_an_entry_is_a_miss(fleet: Path) -> None:
    cold = _findings(fleet)
    [parse] = _entries("parse")
    parse.unlink()
    os.mkfifo(parse)  # a plain open() would wait for a writer for ever
    assert _findings(fleet) == cold


def test_the_key_covers_kbuilds_sources_and_the_converters(fleet: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = Path(os.environ["GITOPS_CACHE_DIR"])
    first = cache.Cache(fleet, folder).inputs
    monkeypatch.setattr(cache.tools, "kbuild_source", lambda root: "another kbuild")
    second = cache.Cache(fleet, folder).inputs
    monkeypatch.setattr(cache.crds, "CONVERTER_VERSION", "another converter")
    assert len({first, second, cache.Cache(fleet, folder).inputs}) == 3
