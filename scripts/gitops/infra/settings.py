"""Every environment variable the tooling reads, read in one place: `Settings.from_env()`.

A run reads them once (run/context.py makes the run's Settings and makes them `current()` while it runs);
code called outside a run (a unit test, the bench) reads the environment as it is at that moment."""
from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

CACHE_DIR, TOOLS_DIR, CRD_MIRROR = "GITOPS_CACHE_DIR", "GITOPS_TOOLS_DIR", "GITOPS_CRD_MIRROR"
SUMMARY = "GITHUB_STEP_SUMMARY"  # GitHub Actions' job summary file (the github format appends to it)


@dataclass(frozen=True)
class Settings:
    """The environment's say in a run; each field names its variable and keeps its documented default."""

    cache_dir: str | None = None  # GITOPS_CACHE_DIR: the cache folder (default: outside the repository)
    tools_dir: str | None = None  # GITOPS_TOOLS_DIR: the pinned binaries (default: .tools/bin)
    xdg_cache_home: str = ""  # XDG_CACHE_HOME: where the default cache folder lives (~/.cache when unset)
    crd_mirror: str | None = None  # GITOPS_CRD_MIRROR: the locked CRD files, offline (--crd-mirror wins)
    max_partial_bytes: int = 512 * 1024 * 1024  # GITOPS_MAX_PARTIAL_BYTES: largest partial result merge reads
    max_objects_per_overlay: int = 2000  # GITOPS_MAX_OBJECTS_PER_OVERLAY
    max_file_bytes: int = 2 * 1024 * 1024  # GITOPS_MAX_FILE_BYTES: largest file the build may read
    max_yaml_nodes: int = 100_000  # GITOPS_MAX_YAML_NODES: nodes one file may expand to, aliases counted in full
    max_yaml_depth: int = 200  # GITOPS_MAX_YAML_DEPTH: deepest nesting of one file
    kustomize_timeout: float = 300.0  # GITOPS_KUSTOMIZE_TIMEOUT: seconds for one overlay's build
    kustomize_cpu_seconds: float = 60.0  # GITOPS_KUSTOMIZE_CPU_SECONDS: CPU one overlay's build may use
    kustomize_memory_mib: int = 4096  # GITOPS_KUSTOMIZE_MEMORY_MIB: address-space ceiling of kustomize
    kubeconform_timeout: float = 600.0  # GITOPS_KUBECONFORM_TIMEOUT: seconds for one minor's kubeconform run
    sync_timeout: float = 900.0  # GITOPS_SYNC_TIMEOUT: seconds for `gitops sync` once its tools are built
    gogc: str | None = None  # GOGC: handed to kustomize and kbuild (their own defaults when unset)
    no_color: bool = False  # NO_COLOR (no-color.org): set, whatever its value, means no colour
    step_summary: str | None = None  # GITHUB_STEP_SUMMARY

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """The settings the environment gives (os.environ by default): the one place it is read."""
        e = os.environ if env is None else env
        d = cls()
        return cls(
            cache_dir=e.get(CACHE_DIR) or None, tools_dir=e.get(TOOLS_DIR) or None,
            xdg_cache_home=e.get("XDG_CACHE_HOME", ""), crd_mirror=e.get(CRD_MIRROR) or None,
            max_partial_bytes=int(e.get("GITOPS_MAX_PARTIAL_BYTES", str(d.max_partial_bytes))),
            max_objects_per_overlay=int(e.get("GITOPS_MAX_OBJECTS_PER_OVERLAY", str(d.max_objects_per_overlay))),
            max_file_bytes=int(e.get("GITOPS_MAX_FILE_BYTES", str(d.max_file_bytes))),
            max_yaml_nodes=int(e.get("GITOPS_MAX_YAML_NODES", str(d.max_yaml_nodes))),
            max_yaml_depth=int(e.get("GITOPS_MAX_YAML_DEPTH", str(d.max_yaml_depth))),
            kustomize_timeout=float(e.get("GITOPS_KUSTOMIZE_TIMEOUT", "300")),
            kustomize_cpu_seconds=float(e.get("GITOPS_KUSTOMIZE_CPU_SECONDS", "60")),
            kustomize_memory_mib=int(e.get("GITOPS_KUSTOMIZE_MEMORY_MIB", str(d.kustomize_memory_mib))),
            kubeconform_timeout=float(e.get("GITOPS_KUBECONFORM_TIMEOUT", "600")),
            sync_timeout=float(e.get("GITOPS_SYNC_TIMEOUT", str(d.sync_timeout))),
            gogc=e.get("GOGC"), no_color="NO_COLOR" in e, step_summary=e.get(SUMMARY) or None)


_active: list[Settings] = []


def current() -> Settings:
    """The running command's settings; outside a run, the environment as it is now."""
    return _active[-1] if _active else Settings.from_env()


@contextmanager
def active(settings: Settings) -> Iterator[Settings]:
    """Make `settings` what current() returns while a run runs."""
    _active.append(settings)
    try:
        yield settings
    finally:
        _active.remove(settings)
