"""Bad input: a clear message with file and line, exit code 2, no traceback, nothing written."""
from __future__ import annotations

from pathlib import Path

import pytest

from conftest import edit, write
from gitops import cli

CASES = [
    pytest.param("base/caller/service.yaml", "  selector:\n", "  selector: [\n",
                 "error: base/caller/service.yaml:10:8: malformed YAML: did not find expected ',' or ']'", id="malformed-yaml"),
    pytest.param("base/caller/service.yaml", "  labels:\n", "  name: again\n  labels:\n",
                 "error: base/caller/service.yaml:5:3: duplicate key 'name' (first at line 4)", id="duplicate-key"),
    pytest.param("overlays/cluster-1/kustomization.yaml", "  - gateway.yaml\n", "  - gateway-missing.yaml\n",
                 "error: overlays/cluster-1/kustomization.yaml:8:5: resources entry 'gateway-missing.yaml' "
                 "does not exist", id="missing-file"),
    pytest.param("overlays/cluster-1/kustomization.yaml", "  - gateway.yaml\n",
                 "  - https://github.com/example/repo//deploy?ref=v1\n",
                 "error: overlays/cluster-1/kustomization.yaml:8:5: resources entry "
                 "'https://github.com/example/repo//deploy?ref=v1' is a remote resource; remote resources are not "
                 "allowed (the build must be reproducible offline): vendor it into base/", id="remote-resource"),
    pytest.param("overlays/cluster-1/kustomization.yaml", "  - path: producer-url.yaml\n",
                 "  - path: nope.yaml\n",
                 "error: overlays/cluster-1/kustomization.yaml:11:11: patches entry 'nope.yaml' does not exist",
                 id="missing-patch"),
    pytest.param("inventory.yaml", '    kubernetesVersion: "1.33"\n    mcs: gke\n    sync: argocd\n',
                 '    kubernetesVersion: 1.33\n    mcs: gke\n    sync: argocd\n',
                 "error: inventory.yaml:18:24: 'kubernetesVersion' must be a non-empty string (quote values such as \"1.33\")",
                 id="inventory-type"),
    pytest.param("inventory.yaml", "    sync: config-sync\n", "    sync: flux\n",
                 "error: inventory.yaml:27:11: 'sync' is 'flux'; expected one of: argocd, config-sync",
                 id="inventory-choice"),
    pytest.param("inventory.yaml", "    location: us-east1\n", "    locaton: us-east1\n",
                 "error: inventory.yaml:24:5: unknown field 'locaton' in a cluster; expected: name, clusterset, "
                 "location, kubernetesVersion, mcs, sync, overlay", id="inventory-typo"),
    pytest.param("inventory.yaml", '    kubernetesVersion: "1.33"\n    mcs: gke\n    sync: config-sync\n',
                 '    kubernetesVersion: "1.12"\n    mcs: gke\n    sync: config-sync\n',
                 "error: inventory.yaml:22: cluster cluster-2: no Kubernetes schemas for 1.12 in kubernetes-validate; "
                 "available: 1.25, 1.26, ",
                 id="inventory-version"),
]


@pytest.mark.parametrize(("rel", "old", "new", "expected"), CASES)
def test_bad_input_exits_2_with_file_and_line(repo: Path, capsys, rel: str, old: str, new: str,
                                              expected: str) -> None:
    edit(repo, rel, old, new)
    assert cli.main(["--root", str(repo), "validate"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(expected), err
    assert "Traceback" not in err


def test_render_refuses_bad_input_and_writes_nothing(repo: Path, capsys) -> None:
    edit(repo, "base/caller/service.yaml", "  selector:\n", "  selector: [\n")
    assert cli.main(["--root", str(repo), "render"]) == 2
    assert not (repo / "clusters").exists()


def test_file_outside_the_kustomization_folder_names_the_line(repo: Path, capsys) -> None:
    write(repo, "overlays/cluster-2/kustomization.yaml",
          "resources:\n  - ../../base/producer\n  - ../../base/producer/service.yaml\n")
    assert cli.main(["--root", str(repo), "validate"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: overlays/cluster-2/kustomization.yaml:3:5: resources entry "
                          "'../../base/producer/service.yaml' is outside this kustomization's folder"), err
    assert "Traceback" not in err


def test_bad_usage_exits_2(capsys) -> None:
    assert cli.main(["validate", "--format", "yaml"]) == 2
    assert "invalid choice: 'yaml'" in capsys.readouterr().err


def test_output_file_is_written_atomically(repo: Path, tmp_path: Path, capsys) -> None:
    cli.main(["--root", str(repo), "render"])
    out = tmp_path / "reports" / "findings.json"
    assert cli.main(["--root", str(repo), "validate", "--format", "json", "--output-file", str(out)]) == 0
    assert out.read_text().startswith("{")
    assert [p.name for p in out.parent.iterdir()] == ["findings.json"]
