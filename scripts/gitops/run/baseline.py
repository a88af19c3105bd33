"""The base revision's clusters, for the rules that judge what a change does (model/baseline.py): its
inventory.yaml and the file list of its committed clusters/, read from git (`ls-tree`, one bounded `cat-file`),
never checked out; the inventory is read by the head's own reader, nothing of the base is run."""
from __future__ import annotations

from pathlib import Path

from gitops.infra import git, inventoryfile, yamlsrc
from gitops.model.baseline import BaseCluster, Baseline
from gitops.model.errors import InputError
from gitops.model.inventory import INVENTORY_FILE
from gitops.run import bootstrap
from gitops.run.inputs import SYNCED_SUFFIXES

_LINK = "120000"


def load(root: Path, base: git.Base) -> Baseline:
    """The base's clusters; a Baseline with `problem` set when its inventory cannot be read."""
    label = str(base)
    entries = git.tree(root, base.commit, (INVENTORY_FILE, bootstrap.CLUSTERS_DIR))
    inventory = next((e for e in entries if e.path == INVENTORY_FILE), None)
    if inventory is None:
        return Baseline(label)  # no inventory: no cluster to lose
    if inventory.mode == _LINK or inventory.size > yamlsrc.max_file_bytes():
        return Baseline(label, problem=f"its {INVENTORY_FILE} is not a regular file within the size limit")
    try:
        text = git.blobs(root, [inventory.blob])[inventory.blob].decode("utf-8")
        inv = inventoryfile.parse(text, root)
    except (KeyError, UnicodeDecodeError) as exc:
        return Baseline(label, problem=f"its {INVENTORY_FILE} could not be read ({exc.__class__.__name__})")
    except InputError as exc:
        return Baseline(label, problem=f"its {INVENTORY_FILE} is not one this tooling reads ({exc})")
    files: dict[str, list[str]] = {}
    for e in entries:
        parts = e.path.split("/")
        if parts[0] == bootstrap.CLUSTERS_DIR and len(parts) > 2 and e.path.endswith(SYNCED_SUFFIXES):
            files.setdefault(parts[1], []).append("/".join(parts[2:]))
    return Baseline(label, tuple(BaseCluster(c.name, c.line, c.overlay, inv.destination(c), c.wave,
                                             tuple(sorted(files.get(c.name, ()))))
                                 for c in inv.clusters))
