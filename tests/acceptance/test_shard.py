"""`validate --shard K/N` and `merge`: N partial results merged report what one validate reports."""
from __future__ import annotations

import json
import os
import shutil
import threading
import time
from pathlib import Path

import pytest

from conftest import edit
from gitops import cli
from gitops.scaffold import fleetgen
from gitops.infra import inventoryfile as inventory
from gitops.run import shard

pytestmark = pytest.mark.slow  # generated fleets split and merged

CLUSTERS, SERVICES, SHARDS = 6, 3, 4


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A rendered fleet with findings of every stage: a cross-cluster one (a caller's URL names a service
    nobody exports), a schema error, a stale rendered file, a cluster folder the inventory lost."""
    root = tmp_path_factory.mktemp("shard") / "fleet"
    fleetgen.generate(root, CLUSTERS, SERVICES)
    assert cli.main(["--root", str(root), "render"]) == 0
    edit(root, "overlays/cluster-1/payments-upstreams.yaml", "http://inventory.identity", "http://nosuch.identity")
    edit(root, "overlays/cluster-2/catalog-upstreams.yaml", "\ndata:\n", "\nbogusField: 1\ndata:\n")
    assert cli.main(["--root", str(root), "render"]) == 0
    stale = sorted((root / "clusters" / "cluster-5").rglob("*.yaml"))[0]
    stale.write_text(stale.read_text() + "# hand edit\n")
    (root / "clusters" / "cluster-99").mkdir()
    (root / "clusters" / "cluster-99" / "x.yaml").write_text("kind: ConfigMap\n")
    return root


def _partials(root: Path, out: Path) -> list[Path]:
    paths = []
    for k in range(1, SHARDS + 1):
        path = out / f"partial-{k}.json"
        assert cli.main(["--root", str(root), "validate", "--shard", f"{k}/{SHARDS}", "--output-file", str(path)]) == 0
        paths.append(path)
    return paths


def test_four_shards_merged_report_what_one_run_reports(fleet: Path, tmp_path: Path) -> None:
    one = tmp_path / "one.json"
    assert cli.main(["--root", str(fleet), "validate", "--format", "json", "--output-file", str(one)]) == 1
    merged = tmp_path / "merged.json"
    paths = _partials(fleet, tmp_path)
    assert cli.main(["--root", str(fleet), "merge", *map(str, reversed(paths)), "--format", "json",
                     "--output-file", str(merged)]) == 1
    expected = json.loads(one.read_text())
    assert {"mcs-clusterset-url-resolves", "schema", "rendered-up-to-date"} <= {f["rule"] for f in expected["findings"]}
    assert sum(f["rule"] == "rendered-up-to-date" for f in expected["findings"]) == 2
    assert json.loads(merged.read_text()) == expected
    held = [set(json.loads(p.read_text())["clusters"]) for p in paths]
    assert sorted(c for h in held for c in h) == sorted(f"cluster-{i}" for i in range(1, CLUSTERS + 1))
    assert all(h for h in held)


def test_shards_split_the_inventory_evenly(fleet: Path) -> None:
    inv = inventory.load(fleet)
    slices = [shard.members(inv, k, SHARDS) for k in range(1, SHARDS + 1)]
    assert sorted(sum(slices, [])) == sorted(c.name for c in inv.clusters)
    assert max(map(len, slices)) - min(map(len, slices)) <= 1


@pytest.fixture(scope="module")
def partials(fleet: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return _partials(fleet, tmp_path_factory.mktemp("partials"))


def _merge_error(root: Path, paths: list[Path], capsys: pytest.CaptureFixture[str]) -> str:
    assert cli.main(["--root", str(root), "merge", *map(str, paths)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err.strip()


def _damaged(partials: list[Path], tmp_path: Path, change) -> list[Path]:  # type: ignore[no-untyped-def]
    data = json.loads(partials[1].read_text())
    bad = tmp_path / "partial-2.json"
    bad.write_text(change(data) if callable(change) else change)
    return [partials[0], bad, *partials[2:]]


@pytest.mark.parametrize("change, message", [
    ("{not json", "partial-2.json: not a partial result (not JSON: "),
    (lambda d: json.dumps([d]), "partial-2.json: not a valid partial result: the file must hold a JSON object"),
    (lambda d: json.dumps({**d, "format": "other/1"}), "partial-2.json: not a valid partial result: format must be"),
    (lambda d: json.dumps({**d, "inputs": {**d["inputs"], "inventory": "0" * 64}}),
     "partial-2.json: not a valid partial result: it was made from another tree (these inputs differ from this "
     "checkout's: inventory.yaml); run every shard and the merge on the same commit"),
    (lambda d: json.dumps({k: v for k, v in d.items() if k != "inputs"}),
     "partial-2.json: not a valid partial result: inputs must be an object"),
    (lambda d: json.dumps({**d, "findings": [{"rule": "image-pinned", "severity": "error", "message": "m"}]}),
     "partial-2.json: not a valid partial result: findings[0].rule is 'image-pinned'; a shard reports only"),
    (lambda d: json.dumps({**d, "shards": 7}),
     "partial-2.json: not a valid partial result: shards is 7, more than the 6 cluster(s) of inventory.yaml"),
    (lambda d: "[" * 100_000 + "]" * 100_000, "partial-2.json: not a partial result: its JSON is nested too deep"),
    (lambda d: json.dumps({**d, "clusters": {k: ["a: " + "[" * 5000 + "]" * 5000] for k in d["clusters"]}}),
     "partial-2.json: not a valid partial result: clusters.cluster-2[0]: YAML nested more than 200 levels deep"),
    (lambda d: json.dumps({**d, "clusters": {**d["clusters"], "cluster-1": []}}),
     "partial-2.json: not a valid partial result: shard 2/4 must hold exactly clusters cluster-2, cluster-6; "
     "it holds cluster-1, cluster-2, cluster-6"),
    (lambda d: json.dumps({**d, "clusters": {k: [7] for k in d["clusters"]}}),
     "partial-2.json: not a valid partial result: clusters.cluster-2[0] must be a string"),
    (lambda d: json.dumps({**d, "clusters": {k: ["- a list"] for k in d["clusters"]}}),
     "partial-2.json: not a valid partial result: clusters.cluster-2[0] is not a YAML object"),
    (lambda d: json.dumps({**d, "findings": [{"rule": "x", "severity": "fatal", "message": "m"}]}),
     "partial-2.json: not a valid partial result: findings[0].severity must be error, warning or notice"),
    (lambda d: json.dumps({**d, "shard": 5}), "partial-2.json: not a valid partial result: shard must be between"),
])
def test_a_damaged_partial_is_a_clear_error(fleet: Path, partials: list[Path], tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str], change, message: str) -> None:  # type: ignore[no-untyped-def]
    err = _merge_error(fleet, _damaged(partials, tmp_path, change), capsys)
    assert err.startswith("error: ") and message in err, err


def test_a_missing_or_repeated_shard_is_a_clear_error(fleet: Path, partials: list[Path],
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert _merge_error(fleet, partials[:3], capsys) == "error: merge is missing shard(s) 4/4"
    err = _merge_error(fleet, [*partials, partials[0]], capsys)
    assert err.endswith("partial-1.json: shard 1/4 was given twice (also " + str(partials[0]) + ")"), err


def test_shard_usage_errors(fleet: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for args in (["--shard", "5/4", "--output-file", "x.json"], ["--shard", "0/4", "--output-file", "x.json"],
                 ["--shard", "1/2"]):
        assert cli.main(["--root", str(fleet), "validate", *args]) == 2
        assert capsys.readouterr().err.startswith("error: ")


# --- a partial is bound to its tree, and read within bounds (issue 19, item 8) ------------------------

def test_partials_of_another_tree_are_refused(fleet: Path, partials: list[Path], tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """Partials made before a change (the base commit, same inventory) must not merge cleanly on the changed
    tree: every input a shard read is in its digests, and merge names the partial and what differs."""
    copy = tmp_path / "fleet"
    shutil.copytree(fleet, copy, symlinks=True)
    base_partials = _partials(copy, tmp_path)
    assert cli.main(["--root", str(copy), "merge", *map(str, base_partials)]) == 1  # the same tree merges
    capsys.readouterr()
    # A source every cluster reads (the inventory is untouched): a broken port in a shared base.
    base = next(p for p in sorted((copy / "base").rglob("service.yaml")))
    base.write_text(base.read_text().replace("targetPort:", "targetPort: 9\n    x-targetPort:", 1))
    err = _merge_error(copy, base_partials, capsys)
    assert ".json: not a valid partial result: it was made from another tree (these inputs differ " \
           "from this checkout's: overlay sources)" in err, err
    base.write_text(base.read_text().replace("targetPort: 9\n    x-targetPort:", "targetPort:", 1))
    # A hand edit of a committed folder, a waiver, a policy's configuration, the lock: each is an input.
    for rel, text, what in (("clusters/cluster-2/x.yaml", "kind: ConfigMap\n", "clusters/ and bootstrap/"),
                            ("policies/config.yaml", "disabled: [mcs-fleet-size]\n", "policies/"),
                            ("crds.lock.yaml", "\n# another lock\n", "crds.lock.yaml and schemas/")):
        path = copy / rel
        old = path.read_bytes() if path.exists() else None
        made = not path.parent.exists()
        path.parent.mkdir(exist_ok=True)
        path.write_text((old or b"").decode() + text)
        err = _merge_error(copy, base_partials, capsys)
        assert f"it was made from another tree (these inputs differ from this checkout's: {what})" in err, err
        path.write_bytes(old) if old is not None else path.unlink()
        if made:
            path.parent.rmdir()
    assert cli.main(["--root", str(copy), "merge", *map(str, base_partials)]) == 1


def test_merge_refuses_devices_fifos_and_oversized_partials_at_once(fleet: Path, partials: list[Path],
                                                                   tmp_path: Path, capsys, monkeypatch) -> None:
    fifo = tmp_path / "partial.fifo"
    os.mkfifo(fifo)
    for bad, says in (("/dev/zero", "/dev/zero: not a regular file"), (str(fifo), f"{fifo}: not a regular file"),
                      (str(tmp_path), f"{tmp_path}: not a regular file")):
        result: list[int] = []
        runner = threading.Thread(target=lambda: result.append(
            cli.main(["--root", str(fleet), "merge", bad, *map(str, partials[1:])])), daemon=True)
        start = time.monotonic()
        runner.start()
        runner.join(60)
        if runner.is_alive():  # release a reader blocked on the FIFO, then fail
            with open(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK), "w"):
                pass
            runner.join(30)
            pytest.fail(f"merge {bad} blocked")
        err = capsys.readouterr().err
        assert result == [2] and says in err and "Traceback" not in err, err
        assert time.monotonic() - start < 10
    monkeypatch.setenv("GITOPS_MAX_PARTIAL_BYTES", "1000")
    err = _merge_error(fleet, partials, capsys)
    assert "partial-1.json: file is " in err and "over the limit of 1,000 (GITOPS_MAX_PARTIAL_BYTES)" in err, err


@pytest.mark.parametrize("spec", ["1/1000000000000", "7/7", "1/7"])
def test_shard_count_is_bounded_by_the_inventory(fleet: Path, spec: str, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "p.json"
    assert cli.main(["--root", str(fleet), "validate", "--shard", spec, "--output-file", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"more than the {CLUSTERS} cluster(s) of inventory.yaml" in err and "Traceback" not in err, err
    assert not out.exists()
