"""Render and the stale check, against the real kustomize."""
from __future__ import annotations

import os
import threading
from pathlib import Path

from conftest import PROJECT, edit
from gitops import cli
from gitops.run import render as hydrate, pipeline
from gitops.run.stages import parse as manifests
from gitops.run.stages import stale as stale_stage


def _snapshot(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for top in ("clusters", "bootstrap") for p in sorted((root / top).rglob("*")) if p.is_file()}


def test_render_twice_changes_nothing(repo: Path, capsys) -> None:
    assert cli.main(["--root", str(repo), "render"]) == 0
    first = _snapshot(repo)
    assert "clusters/cluster-2/istio-apps/serviceexport-sample-producer.yaml" in first
    assert "bootstrap/config-sync/cluster-2/rootsync-gitops-mcs.yaml" in first
    capsys.readouterr()
    assert cli.main(["--root", str(repo), "render"]) == 0
    assert capsys.readouterr().out.strip().endswith("clusters/ and bootstrap/ are up to date")
    assert _snapshot(repo) == first


def test_committed_render_is_fresh() -> None:
    """The repository's own clusters/ and bootstrap/ are what render makes today."""
    inv, resources = pipeline.build(PROJECT)
    assert stale_stage.stale(PROJECT, hydrate.expected_files(inv, resources)) == []


def test_one_object_per_file_with_readable_names(repo: Path) -> None:
    cli.main(["--root", str(repo), "render"])
    text = (repo / "clusters/cluster-1/istio-apps/configmap-sample-caller-config.yaml").read_text()
    assert text.splitlines()[0] == "# Rendered by `nox -s render` from overlays/cluster-1. Edit that, not this file."
    assert "PRODUCER_URL: http://sample-producer.istio-apps.svc.clusterset.local:8080" in text
    assert "config.kubernetes.io/origin" not in text  # build annotations never reach a cluster
    assert text.count("\nkind: ") == 1


def test_render_removes_objects_no_overlay_makes(repo: Path) -> None:
    cli.main(["--root", str(repo), "render"])
    edit(repo, "overlays/cluster-1/kustomization.yaml", "  - httproute.yaml\n", "")
    cli.main(["--root", str(repo), "render"])
    assert not (repo / "clusters/cluster-1/istio-apps/httproute-sample-caller-ui.yaml").exists()
    assert (repo / "clusters/cluster-1/istio-apps/gateway-sample-caller-ui.yaml").exists()


def test_failed_render_writes_nothing(repo: Path, capsys) -> None:
    cli.main(["--root", str(repo), "render"])
    before = _snapshot(repo)
    edit(repo, "overlays/cluster-2/kustomization.yaml", "  - ../../base/producer\n", "  - ../../base/nowhere\n")
    assert cli.main(["--root", str(repo), "render"]) == 2
    assert _snapshot(repo) == before
    assert not list(repo.glob(".render-*"))


def test_stale_cluster_folder_fails_validate_and_names_it(repo: Path, capsys) -> None:
    cli.main(["--root", str(repo), "render"])
    edit(repo, "overlays/cluster-1/producer-url.yaml", "svc.clusterset.local:8080", "svc.clusterset.local:8081")
    capsys.readouterr()
    assert cli.main(["--root", str(repo), "validate"]) == 1
    out = capsys.readouterr().out
    assert ("clusters/cluster-1/istio-apps/configmap-sample-caller-config.yaml is stale from line 4: "
            "it differs there from what its sources render") in out
    assert "clusters/cluster-2/" not in out  # only the cluster whose overlay changed is stale


def test_missing_and_extra_rendered_files_are_stale(repo: Path) -> None:
    cli.main(["--root", str(repo), "render"])
    (repo / "clusters/cluster-2/istio-apps/service-sample-producer.yaml").unlink()
    (repo / "clusters/cluster-2/istio-apps/leftover.yaml").write_text("kind: Nothing\n")
    inv, resources = pipeline.build(repo)
    found = {(p, c, m) for p, c, _, m in stale_stage.stale(repo, hydrate.expected_files(inv, resources))}
    assert found == {
        ("clusters/cluster-2/istio-apps/leftover.yaml", "cluster-2",
         "clusters/cluster-2/istio-apps/leftover.yaml is no longer rendered by any overlay: no render makes it "
         "(added by hand, or left from an earlier render)"),
        ("clusters/cluster-2/istio-apps/service-sample-producer.yaml", "cluster-2",
         "clusters/cluster-2/istio-apps/service-sample-producer.yaml is missing: the overlay now renders it"),
    }



def test_a_fifo_in_a_rendered_folder_is_stale_and_never_opened(repo: Path, capsys) -> None:
    """Opening a FIFO blocks until something writes to it: the stale check must see it is not a regular
    file and report it, not hang. A thread with a deadline runs validate; on a hang the FIFO is opened for
    writing to release the reader, and the test fails."""
    cli.main(["--root", str(repo), "render"])
    fifo = repo / "clusters/cluster-2/istio-apps/pipe.yaml"
    os.mkfifo(fifo)
    capsys.readouterr()
    result: list[int] = []
    runner = threading.Thread(target=lambda: result.append(cli.main(["--root", str(repo), "validate"])), daemon=True)
    runner.start()
    runner.join(120)
    hung = runner.is_alive()
    if hung:
        with open(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK), "w"):
            pass
        runner.join(30)
    out = capsys.readouterr().out
    assert not hung, "validate blocked on the FIFO"
    assert result == [1], out
    assert "clusters/cluster-2/istio-apps/pipe.yaml is no longer rendered by any overlay" in out
    assert cli.main(["--root", str(repo), "render"]) == 0
    assert not fifo.exists()  # render replaces the folder with exactly the rendered files

def test_generator_files_are_data_not_manifests(repo: Path, capsys) -> None:
    """A configMapGenerator file is content, even when its name ends in .yaml and it is not valid YAML."""
    (repo / "overlays/cluster-2/app.yaml").write_text("template: {{ not yaml [\n")
    edit(repo, "overlays/cluster-2/kustomization.yaml", "components:\n",
         "configMapGenerator:\n  - name: app\n    namespace: istio-apps\n    files:\n      - app.yaml\ncomponents:\n")
    assert cli.main(["--root", str(repo), "render"]) == 0
    rendered = list((repo / "clusters/cluster-2/istio-apps").glob("configmap-app-*.yaml"))
    assert len(rendered) == 1
    assert "template: {{ not yaml [" in rendered[0].read_text()


def test_identical_documents_are_parsed_once_and_annotated_ones_never_shared(tmp_path: Path) -> None:
    documents = manifests.Documents()
    plain = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n"
    (a,), (b,) = (manifests.parse_build(c, plain, tmp_path, tmp_path, documents) for c in ("c1", "c2"))
    assert a.body is b.body and (a.cluster, b.cluster) == ("c1", "c2") and a.text == plain
    # An annotated document loses its build annotations to Resource fields, so each gets its own body.
    annotated = plain + "  annotations:\n    config.kubernetes.io/origin: |\n      path: ns.yaml\n"
    (x,), (y,) = (manifests.parse_build(c, annotated, tmp_path, tmp_path, documents) for c in ("c1", "c2"))
    assert x.body is not y.body
    assert (x.origin, x.text, x.body["metadata"]) == ("ns.yaml", None, {"name": "a"})
    # Naming the annotation is not carrying it: kustomize's own text is kept for clusters/.
    mentions = plain + "data:\n  note: see config.kubernetes.io/origin\n"
    (m,) = manifests.parse_build("c1", mentions, tmp_path, tmp_path, documents)
    assert (m.text, m.origin, m.body["data"]) == (mentions, None, {"note": "see config.kubernetes.io/origin"})


def test_rendered_files_are_read_as_text_mode_would(tmp_path: Path) -> None:
    """The stale check reads clusters/ as bytes (faster) and must see exactly what text mode saw: universal
    newlines (a CRLF checkout is not stale) and invalid UTF-8 replaced, never an error."""
    samples = [b"", b"a: 1\r\nb: 2\r\n", b"a\rb\r\n\n\r", b"\xef\xbb\xbfkind: X\r\n", "name: caf\u00e9\n".encode(),
               b"bad \xff\xfe \xc3\r\n", b"x" * 70000 + b"\r" + b"\n" * 3]
    for i, data in enumerate(samples):
        path = tmp_path / f"{i}.yaml"
        path.write_bytes(data)
        with open(path, encoding="utf-8", errors="replace") as fh:
            assert hydrate._read_text(str(path)) == fh.read(), data[:40]
