"""The pinned Go tools: built once into the project's folder, reused while the version matches."""
from __future__ import annotations

from pathlib import Path

import pytest

from conftest import PROJECT
from gitops import tools
from gitops.errors import ToolError


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


def test_missing_go_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("GITOPS_TOOLS_DIR", str(tmp_path / "bin"))
    with pytest.raises(ToolError) as err:
        tools.ensure(tools.KUSTOMIZE, tmp_path)
    assert str(err.value) == "kustomize v5.8.2 must be built with Go, and 'go' is not on PATH"


def test_tools_dir_is_git_ignored() -> None:
    assert "/.tools/" in (PROJECT / ".gitignore").read_text().splitlines()


def test_tools_dir_defaults_into_the_project(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITOPS_TOOLS_DIR", raising=False)
    assert tools.tools_dir(PROJECT) == PROJECT / ".tools" / "bin"
