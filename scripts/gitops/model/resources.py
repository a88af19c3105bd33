"""An object as a cluster receives it, and where it came from (parsed by run/stages/parse.py)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gitops.model.findings import ObjectRef


@dataclass
class Resource:
    cluster: str
    body: dict[str, Any]  # the object as the cluster receives it (build annotations removed)
    origin: str | None = None  # repository-relative file that declared it, when kustomize knows
    generated_by: str | None = None  # kustomization file of a generator (configMapGenerator, ...)
    transformed_in: tuple[str, ...] = ()  # kustomization files whose patches/transformers changed it
    text: str | None = None  # the object's YAML as kustomize printed it (plain builds only)

    @property
    def api_version(self) -> str:
        return str(self.body.get("apiVersion", ""))

    @property
    def kind(self) -> str:
        return str(self.body.get("kind", ""))

    @property
    def name(self) -> str:
        return str((self.body.get("metadata") or {}).get("name", ""))

    @property
    def namespace(self) -> str:
        return str((self.body.get("metadata") or {}).get("namespace", "") or "")

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0]

    @property
    def ref(self) -> ObjectRef:
        return ObjectRef(self.api_version, self.kind, self.namespace, self.name)

    @property
    def labels(self) -> dict[str, str]:
        return (self.body.get("metadata") or {}).get("labels") or {}
