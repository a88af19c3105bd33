"""kbuild (every overlay in one kustomize-API process) against the kustomize CLI it must equal: the
same bytes for every overlay, the same errors through validate, and a clear end when it misbehaves."""
from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
from contextlib import closing
from pathlib import Path

import pytest

from gitops.run import context
from gitops.run.stages import build
from gitops import cli
from gitops.scaffold import fleetgen
from gitops.infra import inventoryfile as inventory
from gitops.infra import kbuild, tools
from gitops.run import pipeline
from gitops.model.errors import ToolError

from conftest import PROJECT, edit, write


def _cli_texts(kz: build.Kustomize, root: Path, targets: list[Path]) -> list[tuple[bool, str]]:
    clusters = {c.overlay: c for c in inventory.load(root).clusters}
    return [build._kustomize(kz.cli, t, clusters[t.relative_to(root).as_posix()]) for t in targets]


def _kbuild_texts(kz: build.Kustomize, targets: list[Path]) -> list[tuple[bool, str]]:
    assert kz.kbuild is not None
    with closing(kbuild.builds(kz.kbuild, targets, workers=2, timeout=300, memory_mib=build.memory_mib(),
                               cpu_seconds=build.cpu_seconds() * len(targets), env=os.environ)) as frames:
        return [(ok, text) for _, ok, text in frames]


def _overlays(root: Path) -> list[Path]:
    return [root / c.overlay for c in inventory.load(root).clusters]


@pytest.mark.slow
@pytest.mark.parametrize("fleet", ["repository", "fleet", "fleet-cluster-labels"])
def test_every_overlay_is_byte_identical_to_the_cli(fleet: str, repo: Path, tmp_path: Path) -> None:
    """The equivalence the speed rests on: kbuild prints exactly what `kustomize build` prints."""
    if fleet == "repository":
        root = repo
    else:
        root = tmp_path / "fleet"
        fleetgen.generate(root, clusters=8, services=6, cluster_labels=fleet.endswith("labels"))
    kz = context.kustomize(root)
    targets = _overlays(root)
    ours, reference = _kbuild_texts(kz, targets), _cli_texts(kz, root, targets)
    assert len(ours) == len(targets) >= 2
    for target, got, want in zip(targets, ours, reference):
        assert want[0], want[1]
        assert got == want, f"{target} differs from kustomize build"


def test_annotated_builds_are_byte_identical_too(repo: Path) -> None:
    """Source lines come from kustomize's origin annotations: kbuild must give the same ones."""
    inv = inventory.load(repo)
    kz = context.kustomize(repo)
    ours = build.build_annotated_all(kz, list(inv.clusters), repo)
    reference = build.build_annotated_all(build.Kustomize(kz.cli), list(inv.clusters), repo)
    assert ours.keys() == reference.keys() == {c.name for c in inv.clusters}
    for name in ours:
        assert [(r.body, r.origin) for r in ours[name]] == [(r.body, r.origin) for r in reference[name]]
        assert any(r.origin for r in ours[name])


BROKEN = {
    "patch-without-target": ("overlays/cluster-1/kustomization.yaml", "patches:\n",
                             "patches:\n  - patch: |-\n      apiVersion: v1\n      kind: Service\n"
                             "      metadata:\n        name: nobody\n"),
    "unknown-field": ("overlays/cluster-1/kustomization.yaml", "resources:\n", "resourcez: []\nresources:\n"),
    "duplicate-resource": ("overlays/cluster-1/kustomization.yaml", "  - httproute.yaml\n",
                           "  - httproute.yaml\n  - httproute.yaml\n"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_failing_build_reads_the_same_through_validate(case: str, repo: Path, capsys) -> None:
    """kustomize's errors map to the same message, file and line whichever process built."""
    rel, old, new = BROKEN[case]
    edit(repo, rel, old, new)
    outputs = []
    for flags in ([], ["--kustomize-cli"]):
        code = cli.main(["--root", str(repo), "validate", "--no-cache", *flags])
        outputs.append((code, capsys.readouterr().err))
    assert outputs[0] == outputs[1]
    code, err = outputs[0]
    assert code == 2 and err.startswith("error: overlays/cluster-") and "kustomize build failed" in err, err
    assert len(err.splitlines()) <= 6


@pytest.mark.slow
def test_validate_reports_the_same_findings_either_way(repo: Path, capsys) -> None:
    """Through the whole pipeline, findings and their lines included, on a tree with findings."""
    edit(repo, "base/caller/deployment.yaml", "sample-caller:1.0.0", "sample-caller:latest")
    reports = []
    for flags in ([], ["--kustomize-cli"]):
        code = cli.main(["--root", str(repo), "validate", "--no-cache", "--format", "json", *flags])
        reports.append((code, json.loads(capsys.readouterr().out)["findings"]))
    assert reports[0] == reports[1]
    assert reports[0][0] == 1 and any(f["rule"] == "image-pinned" for f in reports[0][1])


def test_an_openapi_field_anywhere_in_a_tree_builds_with_the_cli(repo: Path, monkeypatch) -> None:
    """kyaml keeps an `openapi:` schema process-wide, so such overlays never share kbuild's process."""
    edit(repo, "base/producer/kustomization.yaml", "resources:\n", "openapi:\n  version: v1.21.2\nresources:\n")
    calls: list[int] = []
    real = kbuild.builds
    monkeypatch.setattr(kbuild, "builds", lambda binary, targets, **kw: calls.append(len(targets)) or real(
        binary, targets, **kw))
    inv, resources = pipeline.build(repo)
    assert calls == [] and set(resources) == {c.name for c in inv.clusters}
    edit(repo, "base/producer/kustomization.yaml", "openapi:\n  version: v1.21.2\n", "")
    pipeline.build(repo)
    assert calls == [len(inv.clusters)]


def _fake(tmp_path: Path, script: str) -> Path:
    path = tmp_path / "kbuild"
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def _kz(repo: Path, fake: Path) -> build.Kustomize:
    return build.Kustomize(tools.ensure(tools.KUSTOMIZE, repo), fake)


def test_kbuild_that_stops_early_leaves_the_rest_to_the_cli(repo: Path, tmp_path: Path, capsys) -> None:
    """A crash (or kbuild's memory ceiling) mid-run: the builds it sent are kept, the CLI makes the rest."""
    inv = inventory.load(repo)
    first = subprocess.run([str(tools.ensure(tools.KUSTOMIZE, repo)), "build", str(repo / inv.clusters[0].overlay)],
                           capture_output=True, text=True, timeout=120, check=True).stdout
    (tmp_path / "first.yaml").write_text(first)
    size = len(first.encode())
    fake = _fake(tmp_path, f"cat >/dev/null; printf '#kbuild 0 ok {size}\\n'; cat {tmp_path / 'first.yaml'}; "
                           "echo 'fatal error: runtime: out of memory' >&2; echo 'goroutine 1' >&2; exit 2\n")
    built = build.build_all(_kz(repo, fake), list(inv.clusters), repo)
    reference = build.build_all(build.Kustomize(tools.ensure(tools.KUSTOMIZE, repo)), list(inv.clusters), repo)
    assert {n: [r.body for r in rs] for n, rs in built.items()} == \
        {n: [r.body for r in rs] for n, rs in reference.items()}
    err = capsys.readouterr().err
    assert err == (f"warning: kbuild stopped after 1 of {len(inv.clusters)} builds (exit 2: fatal error: runtime: "
                   "out of memory); building the rest with the kustomize CLI\n")


@pytest.mark.parametrize("script, message", [
    ("cat >/dev/null; echo 'hello'\n", "where the frame of overlay 0 belongs"),
    ("cat >/dev/null; printf '#kbuild 1 ok 0\\n'\n", "where the frame of overlay 0 belongs"),
    ("cat >/dev/null; printf '#kbuild 0 ok 1\\n\\377'\n", "is not UTF-8"),
])
def test_kbuild_off_protocol_is_a_tool_error(script: str, message: str, repo: Path, tmp_path: Path) -> None:
    inv = inventory.load(repo)
    with pytest.raises(ToolError, match=message):
        build.build_all(_kz(repo, _fake(tmp_path, script)), list(inv.clusters), repo)


def test_kbuild_past_its_deadline_is_stopped(repo: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("GITOPS_KUSTOMIZE_TIMEOUT", "0.5")
    monkeypatch.setattr(build, "PER_OVERLAY", 0.0)
    fake = _fake(tmp_path, "exec sleep 60\n")
    with pytest.raises(ToolError, match=r"did not finish within 0.5 s"):
        build.build_all(_kz(repo, fake), list(inventory.load(repo).clusters), repo)


def test_kbuild_links_the_modules_of_the_pinned_cli(repo: Path) -> None:
    """go.mod pins every module kbuild shares with the kustomize CLI at the CLI's version, and adds none."""
    if shutil.which("go") is None:
        pytest.skip("needs Go to read the binaries' module lists")  # pragma: no cover - CI has Go
    kz = context.kustomize(repo)
    assert kz.kbuild is not None

    def modules(binary: Path) -> dict[str, str]:
        out = subprocess.run(["go", "version", "-m", str(binary)], capture_output=True, text=True, timeout=60,
                             check=True).stdout
        return {p[1]: p[2] for p in (line.split() for line in out.splitlines()) if len(p) >= 3 and p[0] == "dep"}

    ours, cli_modules = modules(kz.kbuild), modules(kz.cli)
    assert ours["sigs.k8s.io/kustomize/api"] == cli_modules["sigs.k8s.io/kustomize/api"]
    assert {m: v for m, v in ours.items() if m in cli_modules} == {m: cli_modules[m] for m in ours if m in cli_modules}
    assert set(ours) - set(cli_modules) == set()


def test_kbuild_is_rebuilt_when_its_sources_change(tmp_path: Path) -> None:
    """The binary reports the hash of the sources it was built from; any edit changes that hash."""
    source = tmp_path / "kbuild"
    shutil.copytree(PROJECT / tools.KBUILD_DIR, source)
    binary = tools.ensure_kbuild(PROJECT)
    assert binary is not None and tools.reported_hash(binary) == tools.source_hash(source)
    write(tmp_path, "kbuild/main.go", (source / "main.go").read_text() + "\n// an edit\n")
    assert tools.source_hash(source) != tools.reported_hash(binary)
