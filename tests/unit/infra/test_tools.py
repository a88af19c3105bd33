"""The pinned Go tools: built once into the project's folder, reused while the version matches."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import PROJECT, run_nox
from gitops import cli
from gitops.infra import tools
from gitops.model.errors import ToolError


@pytest.mark.parametrize("tool", tools.TOOLS, ids=lambda t: t.name)
def test_installed_binary_reports_the_pinned_version(tool: tools.Tool) -> None:
    binary = tools.ensure(tool, PROJECT)
    assert tools.installed_version(binary, tool) == tool.version


@pytest.mark.parametrize("tool", tools.TOOLS, ids=lambda t: t.name)
def test_ensure_reuses_the_right_version(tool: tools.Tool) -> None:
    binary = tools.ensure(tool, PROJECT)
    before = binary.stat().st_mtime_ns
    assert tools.ensure(tool, PROJECT) == binary
    assert binary.stat().st_mtime_ns == before


def test_a_binary_of_another_origin_is_not_trusted(tmp_path: Path) -> None:
    fake = tmp_path / "kustomize"
    fake.write_text("#!/bin/sh\necho v5.8.2\n")
    fake.chmod(0o755)
    assert tools.installed_version(fake, tools.KUSTOMIZE) is None


def test_missing_go_is_a_clear_error_with_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("GITOPS_TOOLS_DIR", str(tmp_path / "bin"))
    with pytest.raises(ToolError) as err:
        tools.ensure(tools.KUSTOMIZE, tmp_path)
    assert str(err.value) == (
        f"kustomize v5.8.2 is needed and 'go' is not on PATH to build it ({tmp_path / 'bin' / 'kustomize'} is "
        "missing); install Go 1.22 or newer (https://go.dev/doc/install) and put `go` on PATH, or place the "
        f"pinned binaries in {tmp_path / 'bin'} (GITOPS_TOOLS_DIR chooses that folder)")


def test_without_go_a_binary_of_another_version_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "bin" / "kubeconform"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho v0.7.0\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("GITOPS_TOOLS_DIR", str(fake.parent))
    with pytest.raises(ToolError, match=r"\(.*/bin/kubeconform reports v0.7.0\); install Go"):
        tools.ensure(tools.KUBECONFORM, tmp_path)


@pytest.mark.parametrize("tool", tools.TOOLS, ids=lambda t: t.name)
def test_binaries_report_their_own_version(tool: tools.Tool) -> None:
    """`kustomize version`, `kubeconform -v`, `actionlint -version`: what validate reads when Go is absent."""
    assert tools.reported_version(tools.ensure(tool, PROJECT), tool) == tool.version


def test_validate_without_go_uses_the_built_tools(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    for tool in tools.TOOLS:
        tools.ensure(tool, PROJECT)
    monkeypatch.setenv("PATH", str(tmp_path))  # no go, no git: only the binaries in GITOPS_TOOLS_DIR
    assert shutil.which("go") is None
    assert cli.main(["--root", str(PROJECT), "validate", "--format", "json"]) == 0
    assert '"findings": []' in capsys.readouterr().out


def test_tools_dir_is_git_ignored() -> None:
    assert "/.tools/" in (PROJECT / ".gitignore").read_text().splitlines()


def test_tools_dir_defaults_into_the_project(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITOPS_TOOLS_DIR", raising=False)
    assert tools.tools_dir(PROJECT) == PROJECT / ".tools" / "bin"


@pytest.mark.slow
def test_a_kbuild_that_merely_reports_the_hash_is_rebuilt_never_run(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A script in the tools folder that prints the expected source hash: with Go, kbuild's build info must match
    tools/kbuild/go.mod and go.sum before the binary is ever run, so the script is replaced by a real build."""
    if shutil.which("go") is None:
        pytest.skip("needs Go to build kbuild")  # pragma: no cover - CI has Go
    folder = tmp_path / "bin"
    folder.mkdir()
    source = PROJECT / tools.KBUILD_DIR
    marker = tmp_path / "kbuild-ran"
    fake = folder / "kbuild"
    fake.write_text(f"#!/bin/sh\ntouch {marker}\necho {tools.source_hash(source)}\n")
    fake.chmod(0o755)
    monkeypatch.setenv("GITOPS_TOOLS_DIR", str(folder))
    assert tools.ensure_kbuild(PROJECT) == fake
    assert not marker.exists()
    assert tools.kbuild_built_from(fake, source) and tools.reported_hash(fake) == tools.source_hash(source)


def test_kbuild_build_info_must_match_its_module() -> None:
    """The real kbuild matches tools/kbuild; another Go program (kustomize) does not, nor does a script."""
    if shutil.which("go") is None:
        pytest.skip("needs Go to read build info")  # pragma: no cover - CI has Go
    source = PROJECT / tools.KBUILD_DIR
    kbuild = tools.ensure_kbuild(PROJECT)
    assert kbuild is not None and tools.kbuild_built_from(kbuild, source)
    assert not tools.kbuild_built_from(tools.ensure(tools.KUSTOMIZE, PROJECT), source)
    assert not tools.kbuild_built_from(Path("/bin/sh"), source)


@pytest.mark.slow
def test_nox_tools_builds_every_pinned_tool_and_says_so() -> None:
    """Every tool the commands and tests use, the control planes' included, one line each (CI runs this before
    it saves the tools folder and the Go build cache), through nox: its virtualenv needs no package."""
    done = run_nox("-s", "tools", timeout=tools.BUILD_TIMEOUT)
    assert done.returncode == 0, done.stdout
    assert "pip" not in done.stdout
    wanted = [f"{t.name} {t.version}" for t in tools.TOOLS] + ["kbuild (tools/kbuild)"] + list(dict.fromkeys(
        f"{b.name} {b.version}" for lock in tools.CONTROL_PLANES.values() for b in (lock.apiserver, lock.etcd)))
    assert [line.split(": ready (")[0] for line in done.stdout.splitlines() if ": ready (" in line] == wanted
    assert f"\nevery pinned tool is in {tools.tools_dir(PROJECT)}\n" in done.stdout
    for lock in tools.CONTROL_PLANES.values():
        for built in (lock.apiserver, lock.etcd):
            assert tools.module_version(tools.tools_dir(PROJECT) / built.file_name, built.module) == built.version


def test_nox_tools_without_go_is_one_line_and_exit_2(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(PROJECT / "scripts"), "PATH": str(tmp_path),
           "GITOPS_TOOLS_DIR": str(tmp_path / "bin")}
    done = subprocess.run([sys.executable, str(PROJECT / "scripts" / "build_tools.py")], capture_output=True,
                          text=True, timeout=60, env=env)
    assert done.returncode == 2
    assert done.stderr.startswith("error: kustomize v5.8.2 is needed and 'go' is not on PATH") and \
        "Traceback" not in done.stderr, done.stderr
