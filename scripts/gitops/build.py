"""Render stage: build every cluster's overlay with the pinned kustomize, in parallel.

Builds are plain (fast). When a finding needs its source line, the engine asks for an
annotated build of that one cluster: kustomize then records each object's origin file and the
kustomizations that changed it, which is how findings point at the file a person edits. The
annotations cost ~4x the build time, so a clean run never pays for them.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable

from . import kustomizations
from .errors import InputError
from .proc import run
from .inventory import Cluster
from .manifests import Documents, Resource, parse_build

# kustomize allocates heavily; collecting less often cuts its CPU time by about a third
# (measured on an annotated 20-service overlay) for ~80 MB of peak memory per build.
_ENV = {**os.environ, "GOGC": os.environ.get("GOGC", "400")}
TIMEOUT = float(os.environ.get("GITOPS_KUSTOMIZE_TIMEOUT", "300"))  # seconds for one overlay; one builds in well under 1
# A ceiling on kustomize's address space (RLIMIT_AS), so input the pre-checks miss cannot take the machine's memory.
# Go reserves ~1 GiB of address space at start (its page allocator), so the ceiling is on address space, not use:
# 4 GiB ran 20 of 20 builds, 1.5 GiB failed 4 of 10 at start-up.
MEMORY_MIB = int(os.environ.get("GITOPS_KUSTOMIZE_MEMORY_MIB", "4096"))
_ANNOTATIONS = "buildMetadata: [originAnnotations, transformerAnnotations]\n"


def _kustomize(kustomize: Path, target: Path, cluster: Cluster) -> str:
    # Load restrictor on, and none of --enable-exec, --enable-alpha-plugins, --enable-helm, --network.
    cmd = [str(kustomize), "build", "--load-restrictor", "LoadRestrictionsRootOnly", str(target)]
    proc = run(cmd, what=f"kustomize build of cluster {cluster.name}", timeout=TIMEOUT, env=_ENV,
               memory_mib=MEMORY_MIB)
    if proc.returncode != 0:
        detail = proc.stderr.strip().removeprefix("Error: ").replace(str(target.resolve()), "<build>")
        if any(m in detail for m in ("out of memory", "cannot allocate memory", "failed to reserve")):
            detail = (f"kustomize ran out of memory (its ceiling is {MEMORY_MIB} MiB, GITOPS_KUSTOMIZE_MEMORY_MIB): "
                      "a manifest expands to far more than it shows")
        raise InputError(f"kustomize build failed for cluster {cluster.name}: {_first_lines(detail)}", cluster.overlay)
    return proc.stdout


def _first_lines(text: str, count: int = 5) -> str:
    """kustomize's message without a Go stack dump: its first few lines."""
    lines = text.splitlines()
    return "\n".join(lines[:count]) + (f"\n... ({len(lines) - count} more lines)" if len(lines) > count else "")


def _build(kustomize: Path, cluster: Cluster, root: Path, documents: Documents) -> list[Resource]:
    overlay = root / cluster.overlay
    return parse_build(cluster.name, _kustomize(kustomize, overlay, cluster), overlay.resolve(), root, documents)


def build_annotated(kustomize: Path, cluster: Cluster, root: Path) -> list[Resource]:
    """The same build through a throw-away wrapper kustomization that turns on kustomize's build metadata."""
    with tempfile.TemporaryDirectory(prefix="gitops-build-") as tmp:
        wrapper = Path(tmp).resolve()
        rel = os.path.relpath((root / cluster.overlay).resolve(), wrapper)
        (wrapper / "kustomization.yaml").write_text(
            f"apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - {rel}\n{_ANNOTATIONS}")
        return parse_build(cluster.name, _kustomize(kustomize, wrapper, cluster), wrapper, root, Documents())


def build_annotated_all(kustomize: Path, clusters: list[Cluster], root: Path, workers: int | None = None,
                        on_built: Callable[[str], None] | None = None) -> dict[str, list[Resource]]:
    """Annotated builds of several clusters at once (a failing run places findings in many clusters);
    each is a separate kustomize process, so threads give real parallelism."""
    def one(c: Cluster) -> list[Resource]:
        out = build_annotated(kustomize, c, root)
        if on_built is not None:
            on_built(c.name)
        return out

    from concurrent.futures import ThreadPoolExecutor  # here, not at the top: a warm validate builds nothing

    with ThreadPoolExecutor(max_workers=workers or max(2, os.cpu_count() or 2)) as pool:
        futures = {c.name: pool.submit(one, c) for c in clusters}
        return {name: f.result() for name, f in futures.items()}


def build_all(kustomize: Path, clusters: list[Cluster], root: Path, workers: int | None = None,
              closures: kustomizations.Closures | None = None,
              documents: Documents | None = None,
              on_built: Callable[[str], None] | None = None) -> dict[str, list[Resource]]:
    """Check each overlay's references, then build them; kustomize is a separate process, so threads
    give real parallelism. When a build fails, a malformed manifest is named with its file and line."""
    closures = closures or kustomizations.Closures(root)
    for c in clusters:
        closures.of(root / c.overlay)  # remote, missing, absolute and outside references, with file and line
        closures.precheck(root / c.overlay)  # size, encoding and alias-expansion limits before kustomize reads

    documents = documents or Documents()
    if not clusters:  # everything came from the validate cache
        return {}
    from concurrent.futures import ThreadPoolExecutor  # here, not at the top: a warm validate builds nothing

    workers = workers or max(2, os.cpu_count() or 2)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        def one(c: Cluster) -> list[Resource]:
            out = _build(kustomize, c, root, documents)
            if on_built is not None:  # progress display: clusters built so far
                on_built(c.name)
            return out

        futures = {c.name: pool.submit(one, c) for c in clusters}
        built = {}
        for c in clusters:
            try:
                built[c.name] = futures[c.name].result()
            except InputError as exc:
                closures.check_manifests(root / c.overlay)
                where = closures.explain(root / c.overlay, exc.message)
                if where is not None:
                    raise InputError(exc.message, where[0], where[1]) from None
                raise
        return built
