"""The base revision of a change, as far as the destructive-change rule needs it: which clusters it had, where
each synced, and which files its committed clusters/<name>/ held (read from git by run/baseline.py, never
checked out, nothing of it run)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BaseCluster:
    name: str
    line: int  # its entry in the base's inventory.yaml
    overlay: str
    destination: str  # Inventory.destination's words, as the head's code reads the base's inventory
    wave: int | None
    files: tuple[str, ...]  # the committed clusters/<name>/ files a sync engine reads, relative to that folder


@dataclass(frozen=True)
class Baseline:
    """The base revision ("main (0123456789ab)"); `problem` says why its clusters could not be read (then
    `clusters` is empty and nothing is compared, which the rule reports)."""

    label: str
    clusters: tuple[BaseCluster, ...] = ()
    problem: str = ""

    def cluster(self, name: str) -> BaseCluster | None:
        return next((c for c in self.clusters if c.name == name), None)
