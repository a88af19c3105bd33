"""fleetgen's pinned copies (scripts/gitops/scaffold/pinned/) are the repository's own crds.lock.yaml and schemas/:
the installed package carries them, so they must never drift from the files validate reads here."""
from __future__ import annotations

from conftest import PROJECT
from gitops.scaffold import fleetgen


def test_the_pinned_copies_are_the_repositorys_lock_and_schemas() -> None:
    pinned = fleetgen._pinned()
    root = {p.relative_to(PROJECT).as_posix(): p.read_text(encoding="utf-8")
            for p in [PROJECT / "crds.lock.yaml", *sorted((PROJECT / "schemas").rglob("*.json"))]}
    assert pinned == root, ("scripts/gitops/scaffold/pinned/ differs from crds.lock.yaml and schemas/: copy them "
                            "there again")


def test_fleetgen_writes_them_into_the_fleet(tmp_path) -> None:
    fleetgen.generate(tmp_path / "fleet", 2, 2)
    assert (tmp_path / "fleet/crds.lock.yaml").read_text() == (PROJECT / "crds.lock.yaml").read_text()
    assert (tmp_path / "fleet/schemas/net.gke.io/serviceexport_v1.json").is_file()
