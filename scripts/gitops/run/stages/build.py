"""Build stage: kustomize in memory, every cluster's overlay with the pinned kustomize, in parallel.

kbuild (kbuild.py) builds every overlay in one process when it can be had; otherwise, and with
`--kustomize-cli`, each overlay is one `kustomize build` process. The output is the same bytes.

Builds are plain (fast). When a finding needs its source line, the engine asks for an
annotated build of that one cluster: kustomize then records each object's origin file and the
kustomizations that changed it, which is how findings point at the file a person edits. The
annotations cost ~4x the build time, so a clean run never pays for them.
"""
from __future__ import annotations

import os
import sys
import tempfile
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Generator, Iterator

from gitops.infra import kbuild, kustomizations, proc, settings
from gitops.model.errors import InputError
from gitops.model.inventory import Cluster
from gitops.run.stages.parse import Documents, parse_build
from gitops.model.resources import Resource

# kustomize allocates heavily; collecting less often cuts its CPU time by about a third
# (measured on an annotated 20-service overlay) for ~80 MB of peak memory per build.
CLI_GOGC = "400"
# kbuild's live heap is small and shared by every build: collecting half as often again cut its CPU by 6%
# at 200 clusters (9.9 to 9.3 s) for about 100 MB more peak memory.
KBUILD_GOGC = "800"
PER_OVERLAY = 5.0  # kbuild's limit for a batch is timeout() plus this for each overlay in it
# A ceiling on kustomize's address space (RLIMIT_AS), so input the pre-checks miss cannot take the machine's memory.
# Go reserves ~1 GiB of address space at start (its page allocator), so the ceiling is on address space, not use:
# 4 GiB ran 20 of 20 builds, 1.5 GiB failed 4 of 10 at start-up.


def _env(gogc: str) -> dict[str, str]:
    """The child's environment: ours, with GOGC as set (else `gogc`)."""
    return {**os.environ, "GOGC": settings.current().gogc or gogc}


def timeout() -> float:
    """Seconds one overlay's build may take (GITOPS_KUSTOMIZE_TIMEOUT); one builds in well under one."""
    return settings.current().kustomize_timeout


def memory_mib() -> int:
    """kustomize's address-space ceiling in MiB (GITOPS_KUSTOMIZE_MEMORY_MIB)."""
    return settings.current().kustomize_memory_mib

PER_OVERLAY_CPU = 2.0  # kbuild's CPU ceiling for a batch is cpu_seconds() plus this for each overlay in it
_OUT_OF_CPU = "kustomize used more than its"


def cpu_seconds() -> float:
    """CPU time one overlay's build may use (GITOPS_KUSTOMIZE_CPU_SECONDS; RLIMIT_CPU): one builds in well under
    a second, and an input that takes kustomize minutes (what max_objects misses) must end with a message."""
    return settings.current().kustomize_cpu_seconds


_ANNOTATIONS = "buildMetadata: [originAnnotations, transformerAnnotations]\n"


@dataclass(frozen=True)
class Kustomize:
    """What builds the overlays: the pinned kustomize CLI, one process per overlay (the reference), and
    kbuild when it could be had here (every overlay in one process, the same bytes; see kbuild.py)."""

    cli: Path
    kbuild: Path | None = None


def _failed(cluster: Cluster, target: Path, detail: str) -> InputError:
    """A failed build as the user sees it, the same from the CLI and from kbuild."""
    detail = detail.replace(str(target.resolve()), "<build>")
    if any(m in detail for m in ("out of memory", "cannot allocate memory", "failed to reserve")):
        detail = (f"kustomize ran out of memory (its ceiling is {memory_mib()} MiB, GITOPS_KUSTOMIZE_MEMORY_MIB): "
                  "a manifest expands to far more than it shows")
    return InputError(f"kustomize build failed for cluster {cluster.name}: {_first_lines(detail)}", cluster.overlay)


def _kustomize(kustomize: Path, target: Path, cluster: Cluster) -> tuple[bool, str]:
    """(True, the YAML) or (False, kustomize's error) of one `kustomize build`."""
    # Load restrictor on, and none of --enable-exec, --enable-alpha-plugins, --enable-helm, --network.
    cmd = [str(kustomize), "build", "--load-restrictor", "LoadRestrictionsRootOnly", str(target)]
    done = proc.run(cmd, what=f"kustomize build of cluster {cluster.name}", timeout=timeout(), env=_env(CLI_GOGC),
                    memory_mib=memory_mib(), cpu_seconds=cpu_seconds())
    if proc.out_of_cpu(done.returncode):
        return False, (f"{_OUT_OF_CPU} {cpu_seconds():g} CPU seconds (GITOPS_KUSTOMIZE_CPU_SECONDS) and was stopped: "
                       "the overlay makes too many objects, or too much work, for one build")
    if done.returncode != 0:
        return False, done.stderr.strip().removeprefix("Error: ")
    return True, done.stdout


def _first_lines(text: str, count: int = 5) -> str:
    """kustomize's message without a Go stack dump: its first few lines."""
    lines = text.splitlines()
    return "\n".join(lines[:count]) + (f"\n... ({len(lines) - count} more lines)" if len(lines) > count else "")


def _each(kz: Kustomize, targets: list[tuple[Cluster, Path]], workers: int | None,
          closures: kustomizations.Closures) -> Generator[tuple[Cluster, Path, bool, str], None, None]:
    """(cluster, target, ok, YAML or kustomize's error) for every target, in order, each as soon as it
    is built. kbuild builds when it can, the CLI otherwise. Close it (contextlib.closing) to stop early."""
    if not targets:
        return
    workers = workers or max(2, os.cpu_count() or 2)
    done = 0
    # A kustomization's `openapi:` sets a process-wide schema in kyaml: such builds need a process each.
    if kz.kbuild is not None and not any(closures.of(t).openapi for _, t in targets):
        try:
            with closing(kbuild.builds(kz.kbuild, [t for _, t in targets], workers=workers,
                                       timeout=timeout() + PER_OVERLAY * len(targets), memory_mib=memory_mib(),
                                       cpu_seconds=cpu_seconds() + PER_OVERLAY_CPU * len(targets),
                                       env=_env(KBUILD_GOGC))) as frames:
                for index, ok, text in frames:
                    done += 1
                    yield (*targets[index], ok, text)
            return
        except kbuild.Stopped as stop:  # the CLI, with a ceiling per overlay, shows which overlay it was
            print(f"warning: kbuild stopped after {stop.answered} of {len(targets)} builds ({stop.detail}); "
                  "building the rest with the kustomize CLI", file=sys.stderr)
    from concurrent.futures import ThreadPoolExecutor  # here, not at the top: a warm validate builds nothing

    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(_kustomize, kz.cli, t, c) for c, t in targets[done:]]
        try:
            for (cluster, target), future in zip(targets[done:], futures):
                yield (cluster, target, *future.result())
        finally:
            for f in futures:
                f.cancel()


def build_annotated(kz: Kustomize, cluster: Cluster, root: Path,
                    closures: kustomizations.Closures | None = None) -> list[Resource]:
    """One cluster's build with kustomize's build metadata (origin and transformer annotations)."""
    return build_annotated_all(kz, [cluster], root, closures=closures)[cluster.name]


def build_annotated_all(kz: Kustomize, clusters: list[Cluster], root: Path, workers: int | None = None,
                        on_built: Callable[[str], None] | None = None,
                        closures: kustomizations.Closures | None = None) -> dict[str, list[Resource]]:
    """Annotated builds of several clusters at once (a failing run places findings in many clusters), each
    through a throw-away wrapper kustomization that turns on kustomize's build metadata. `closures`: the
    run's walk of the overlays, so the wrappers' trees are not walked again."""
    with tempfile.TemporaryDirectory(prefix="gitops-build-") as tmp:
        targets = []
        for i, c in enumerate(clusters):
            wrapper = Path(tmp).resolve() / str(i)
            wrapper.mkdir()
            rel = os.path.relpath((root / c.overlay).resolve(), wrapper)
            (wrapper / "kustomization.yaml").write_text(
                f"apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - {rel}\n{_ANNOTATIONS}")
            targets.append((c, wrapper))
        out = {}
        with closing(_each(kz, targets, workers, closures or kustomizations.Closures(root))) as builds:
            for cluster, wrapper, ok, text in builds:
                if not ok:
                    raise _failed(cluster, wrapper, text)
                out[cluster.name] = parse_build(cluster.name, text, wrapper, root, Documents())
                if on_built is not None:
                    on_built(cluster.name)
        return out


def build_all(kz: Kustomize, clusters: list[Cluster], root: Path, workers: int | None = None,
              closures: kustomizations.Closures | None = None,
              documents: Documents | None = None,
              on_built: Callable[[str], None] | None = None) -> dict[str, list[Resource]]:
    """Check each overlay's references, then build them (kbuild or parallel CLI processes) and parse each
    build while the next are made. When a build fails, a malformed manifest is named with its file and line."""
    closures = closures or kustomizations.Closures(root)
    for c in clusters:
        closures.of(root / c.overlay)  # remote, missing, absolute and outside references, with file and line
        closures.precheck(root / c.overlay)  # size, encoding and alias-expansion limits before kustomize reads
    documents = documents or Documents()
    built: dict[str, list[Resource]] = {}
    with closing(_each(kz, [(c, root / c.overlay) for c in clusters], workers, closures)) as builds:
        for cluster, target, ok, text in builds:
            if not ok:
                error = _failed(cluster, target, text)
                if text.startswith(_OUT_OF_CPU):  # not a YAML problem: parsing every manifest would only add time
                    raise error
                closures.check_manifests(target)  # a malformed manifest, named with its file and line
                where = closures.explain(target, error.message)
                if where is not None:
                    raise InputError(error.message, where[0], where[1])
                raise error
            built[cluster.name] = parse_build(cluster.name, text, target.resolve(), root, documents)
            if len(built[cluster.name]) > kustomizations.max_objects():  # what the estimate before the build missed
                raise InputError(f"overlay {cluster.overlay} built {len(built[cluster.name]):,} objects, over the limit "
                                 f"of {kustomizations.max_objects():,} objects per overlay "
                                 "(GITOPS_MAX_OBJECTS_PER_OVERLAY): split the overlay, or raise the limit", cluster.overlay)
            if on_built is not None:  # progress display: clusters built so far
                on_built(cluster.name)
    return built
