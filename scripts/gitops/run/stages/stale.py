"""Stale stage: the committed clusters/ and bootstrap/ are exactly what the sources render now."""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

from gitops.model.findings import Finding, Severity, SourceLocation
from gitops.model.inventory import Inventory
from gitops.model.kinds import Scopes
from gitops.model.resources import Resource
from gitops.model.rules import Rule
from gitops.run import bootstrap, render

STALE = Rule("rendered-up-to-date", Severity.ERROR,
             "clusters/ and bootstrap/ are what `nox -s render` makes from the overlays and inventory.",
             "The sync engines apply clusters/, so an overlay change that is not rendered never reaches a cluster, "
             "and reviewers would read a diff that is not what clusters get.",
             "Run `nox -s render` and commit the result.")
SYNCED = ("the sync engines apply the committed clusters/ and bootstrap/, so they must be exactly what the "
          "sources render; run `nox -s render` and commit the result")


def findings(root: Path, inv: Inventory, resources: dict[str, list[Resource]],
             clusters: Iterable[str] | None, kinds: Scopes | None = None) -> list[Finding]:
    """rendered-up-to-date findings: bootstrap/ and the folders of `clusters` (None: all of clusters/), and
    always the folders under clusters/ that no cluster of the inventory renders. A Config Sync cluster's
    bootstrap/config-sync/<name>/ follows from its objects, so it is compared only for the clusters in
    `resources` (a shard holds some of them)."""
    expected = render.expected_files(inv, resources, kinds)
    unknown = tuple(bootstrap.config_sync_dir(c.name) for c in inv.clusters
                    if c.sync == "config-sync" and c.name not in resources)
    if clusters is not None:
        clusters = [*clusters, *render.foreign_folders(root, inv)]
    return [Finding(STALE.id, STALE.severity, message, cluster, None, None, STALE.fix, loc)
            for path, cluster, loc, message in stale(root, expected, clusters) if not path.startswith(unknown)]


def stale(root: Path, files: dict[str, str],
          clusters: Iterable[str] | None = None) -> list[tuple[str, str | None, SourceLocation, str]]:
    """(path, cluster, location, message) for every committed file that differs from a fresh render.

    With `clusters` (incremental validation), only bootstrap/ and those clusters' folders are compared.
    """
    current = render.on_disk(root, clusters)
    out = []
    for rel in sorted(set(files) | set(current)):
        want, have = files.get(rel), current.get(rel)
        if want == have:
            continue
        parts = rel.split("/")
        cluster = parts[1] if parts[0] == bootstrap.CLUSTERS_DIR and len(parts) > 2 else None
        if have is None:
            out.append((rel, cluster, SourceLocation(rel, 1), f"{rel} is missing: the overlay now renders it"))
        elif want is None:
            out.append((rel, cluster, SourceLocation(rel, 1), f"{rel} is no longer rendered by any overlay: no "
                        "render makes it (added by hand, or left from an earlier render)"))
        else:
            line = next((i for i, (a, b) in enumerate(zip(want.splitlines(), have.splitlines()), 1) if a != b),
                        min(len(want.splitlines()), len(have.splitlines())) + 1)
            out.append((rel, cluster, SourceLocation(rel, line), f"{rel} is stale from line {line}: it differs there "
                        "from what its sources render (a hand edit, or a source changed since the last render)"))
    return out
