"""Schema stage: one kubeconform run per Kubernetes minor version over every rendered object.

Objects are written as JSON documents, a file per (cluster, namespace), so that each kubeconform
result (file, apiVersion, kind, name) maps back to exactly one object; kubeconform's own worker pool
does the parallel work.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .errors import ToolError
from .inventory import Inventory
from .manifests import Resource

_AT = re.compile(r"- at '([^']*)': (.*?)(?=\s+- at '|$)", re.S)


@dataclass
class SchemaProblem:
    resource: Resource
    pointer: str  # JSON pointer of the offending field, "" for the whole object
    message: str
    missing_schema: bool = False


def pointer_path(pointer: str) -> tuple[str | int, ...]:
    parts = [p.replace("~1", "/").replace("~0", "~") for p in pointer.split("/")[1:]] if pointer else []
    return tuple(int(p) if p.isdigit() else p for p in parts)


def problems_of(result: dict, resource: Resource) -> list[SchemaProblem]:
    """Turn one kubeconform JSON result into the leaf errors a person can act on."""
    status, msg = result.get("status"), result.get("msg", "")
    if status == "statusError":
        return [SchemaProblem(resource, "", msg, missing_schema="could not find schema" in msg)]
    if status != "statusInvalid":
        return []
    leaves = [(p, m.strip()) for p, m in _AT.findall(msg) if m.strip() != "validation failed"]
    if not leaves:
        leaves = [(e.get("path", ""), e.get("msg", "")) for e in result.get("validationErrors") or []] or [("", msg)]
    return [SchemaProblem(resource, p, m) for p, m in leaves]


def _write(tmp: Path, resources: dict[str, list[Resource]]) -> dict[tuple[str, str, str, str], Resource]:
    """Write each cluster's objects as JSON documents of a few multi-document files; return how to find them.

    kubeconform names a result by file, apiVersion, kind and name, so no file holds two objects with the
    same three (a namespace per file, and a further file for any repeat). Few files, not one per object:
    creating thousands of small files was the slowest part of this stage.
    """
    index: dict[tuple[str, str, str, str], Resource] = {}
    for cluster, items in resources.items():
        folder = tmp / cluster
        folder.mkdir()
        files: dict[str, list[str]] = defaultdict(list)
        namespaces: dict[str, int] = {}
        for res in items:
            group, slot = namespaces.setdefault(res.namespace, len(namespaces)), 0
            while True:
                name = str(folder / f"{group}.{slot}.yaml")
                key = (name, res.api_version, res.kind, res.name)
                if key not in index:
                    break
                slot += 1
            index[key] = res
            files[name].append(json.dumps(res.body))
        for name, docs in files.items():
            Path(name).write_text("\n---\n".join(docs) + "\n")
    return index


def check(kubeconform: Path, inventory: Inventory, resources: dict[str, list[Resource]],
          locations_for: Callable[[str], list[str]], workers: int | None = None) -> list[SchemaProblem]:
    workers = workers or max(2, os.cpu_count() or 2)
    by_version: dict[str, list[str]] = defaultdict(list)
    for cluster in resources:
        by_version[inventory.cluster(cluster).kubernetes_version].append(cluster)
    problems: list[SchemaProblem] = []
    with tempfile.TemporaryDirectory(prefix="gitops-schema-") as tmp:
        index = _write(Path(tmp), resources)
        for minor, clusters in sorted(by_version.items()):
            cmd = [str(kubeconform), "-strict", "-output", "json", "-n", str(workers)]
            for loc in locations_for(minor):
                cmd += ["-schema-location", loc]
            cmd += [str(Path(tmp) / c) for c in clusters]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            try:
                results = json.loads(proc.stdout)["resources"]
            except (ValueError, KeyError):
                raise ToolError(f"kubeconform failed (exit {proc.returncode}): {proc.stderr.strip() or proc.stdout[:500]}")
            for result in results:
                res = index.get((result.get("filename", ""), result.get("version", ""), result.get("kind", ""),
                                 result.get("name", "")))
                if res is None:
                    raise ToolError(f"kubeconform reported an unknown file: {result.get('filename')}")
                problems += problems_of(result, res)
    return problems

