"""Schema stage: one kubeconform run per Kubernetes minor version over every rendered object.

Each distinct document is validated once per minor, however many clusters receive it, and each
kubeconform result (file, apiVersion, kind, name) maps back to the objects it stands for;
kubeconform's own worker pool does the parallel work.
"""
from __future__ import annotations

import json
import os
import re
import tempfile
from collections import defaultdict
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Iterator

from gitops.infra import proc, schemas, settings, tools
from gitops.model.errors import ToolError
from gitops.model.findings import Finding, Severity, path_text
from gitops.model.inventory import Inventory
from gitops.model.resources import Resource
from gitops.model.rules import Rule
from gitops.run.sourcemap import SourceMap

if TYPE_CHECKING:
    from gitops.run.cache import Cache

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


_Key = tuple[str, str, str, str]  # how kubeconform names a result: file, apiVersion, kind, name


def _write(folder: Path, resources: Iterable[Resource]) -> dict[_Key, list[Resource]]:
    """Write each distinct document once into a few multi-document files; return the Resources each
    result stands for.

    The same text validates the same against one Kubernetes version's schemas, and a fleet's clusters
    mostly receive the same objects, so each distinct document is validated once and its result is
    every copy's. kubeconform names a result by file, apiVersion, kind and name, so no file holds two
    documents with the same three. Few files, not one per object: creating thousands of small files
    was the slowest part of this stage.
    """
    folder.mkdir()
    index: dict[_Key, list[Resource]] = {}
    by_text: dict[str, _Key] = {}
    slots: dict[tuple[str, str, str], int] = defaultdict(int)
    files: dict[str, list[str]] = defaultdict(list)
    for res in resources:
        # kustomize's own YAML where there is one (no serialising); JSON, which is YAML too, otherwise.
        text = res.text if res.text is not None else json.dumps(res.body)
        key = by_text.get(text)
        if key is None:
            name = (res.api_version, res.kind, res.name)
            key = by_text[text] = (str(folder / f"{slots[name]}.yaml"), *name)
            slots[name] += 1
            index[key] = []
            files[key[0]].append(text)
        index[key].append(res)
    for file, docs in files.items():
        Path(file).write_text("\n---\n".join(docs) + "\n")
    return index


@contextmanager
def started(kubeconform: Path, inventory: Inventory, resources: dict[str, list[Resource]],
            locations_for: Callable[[str], list[str]],
            workers: int | None = None) -> Iterator[Callable[[], list[SchemaProblem]]]:
    """Start kubeconform (one run per Kubernetes minor) in the background; yield a function that
    waits for it and returns the problems. Python runs the other stages meanwhile."""
    workers = workers or max(2, os.cpu_count() or 2)
    by_version: dict[str, list[Resource]] = defaultdict(list)
    for cluster, items in resources.items():
        by_version[inventory.cluster(cluster).kubernetes_version] += items
    with tempfile.TemporaryDirectory(prefix="gitops-schema-") as tmp:
        index: dict[_Key, list[Resource]] = {}
        runs = []
        for minor, items in sorted(by_version.items()):
            folder = Path(tmp) / minor
            index |= _write(folder, items)
            cmd = [str(kubeconform), "-strict", "-output", "json", "-n", str(workers)]
            for loc in locations_for(minor):
                cmd += ["-schema-location", loc]
            out = Path(tmp) / f"kubeconform-{minor}.json"  # a file, not a pipe: a full pipe would stall it
            with out.open("w") as sink:
                runs.append((proc.start([*cmd, str(folder)], what=f"kubeconform (Kubernetes {minor})", timeout=settings.current().kubeconform_timeout, stdout=sink), out))

        def problems() -> list[SchemaProblem]:
            found: list[SchemaProblem] = []
            for started, out in runs:
                returncode, stderr = started.wait()
                try:
                    results = json.loads(out.read_text())["resources"]
                except (ValueError, KeyError):
                    raise ToolError(f"kubeconform failed (exit {returncode}): {stderr.strip()}") from None
                for result in results:
                    key = (result.get("filename", ""), result.get("version", ""), result.get("kind", ""),
                           result.get("name", ""))
                    if key not in index:
                        raise ToolError(f"kubeconform reported an unknown object: {key}")
                    for res in index[key]:
                        found += problems_of(result, res)
            return found

        try:
            yield problems
        finally:
            for started, _ in runs:
                started.stop()


# --- the stage: rules, start, findings -------------------------------------------------------------------

SCHEMA = Rule("schema", Severity.ERROR, "Every rendered object matches its schema strictly (unknown fields rejected).",
              "The API server or the sync engine rejects the object, or silently drops a misspelled field.",
              "Fix the field named in the message at the line shown; `kubectl explain` names the valid fields.")
UNKNOWN_KIND = Rule("schema-unknown-kind", Severity.ERROR,
                    "Every kind has a schema: a Kubernetes built-in, a locked CRD, or schemas/.",
                    "A kind nothing knows is a typo or a missing CRD, and would never be validated.",
                    "Fix the apiVersion/kind, or add the CRD to crds.lock.yaml (or a schema to schemas/).")
_EXTRA = re.compile(r"additional properties? '([^']+)'")


def start(stack: ExitStack, root: Path, inv: Inventory, to_check: dict[str, list[Resource]], store: Cache | None,
          cache: Path, mirror: str | None, workers: int | None) -> Callable[[], list[SchemaProblem]]:
    """Start kubeconform on what the cache has no verdict for (nothing when it has them all); the function
    returned waits for it, records its verdicts in the cache, and returns every problem."""
    known: list[SchemaProblem] = []
    if store is not None:
        to_check, known = store.schema_known(inv, to_check)
    if not to_check:
        return lambda: known
    problems = stack.enter_context(started(
        tools.ensure(tools.KUBECONFORM, root), inv, to_check,
        lambda minor: schemas.locations(minor, root, cache, mirror), workers))

    def done() -> list[SchemaProblem]:
        checked = problems()
        if store is not None:
            store.schema_store(inv, to_check, checked)
        return known + checked
    return done


def findings(problems: list[SchemaProblem], sources: SourceMap) -> list[Finding]:
    """A schema (or schema-unknown-kind) finding for each problem, at the line of the field it names."""
    out = []
    for p in problems:
        rule = UNKNOWN_KIND if p.missing_schema else SCHEMA
        path = pointer_path(p.pointer)
        field_text = path_text(path)
        if p.missing_schema:
            message = (f"no schema for {p.resource.api_version} {p.resource.kind} in cluster {p.resource.cluster}: "
                       "not a Kubernetes kind of this version, a locked CRD, or a schema under schemas/")
            path = ("kind",)
        else:
            message = f"{p.resource.ref} in cluster {p.resource.cluster}: {field_text or '(object)'}: {p.message}"
            extra = _EXTRA.search(p.message)
            if extra:  # point at the unknown field itself, not at its parent
                path = (*path, extra.group(1))
        out.append(Finding(rule.id, rule.severity, message, p.resource.cluster, p.resource.ref,
                           field_text or None, rule.fix, sources.locate(p.resource, path)))
    return out
