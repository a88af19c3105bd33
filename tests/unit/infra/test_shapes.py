"""Every shape the inventory's engine settings are read against (infra/inventoryengines.py) names only fields
the locked CRD has at that place, and requires every field the CRD requires there: a setting the inventory
accepts is one the engine's object can hold."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import PROJECT
from gitops.infra import crds, inventoryengines as ie
from gitops.infra.shapes import ListOf, MapOf, Obj, OneOf, Shape

# (shape, locked CRD file, path of the field in the CRD's openAPIV3Schema below spec)
PLACES = [
    (ie.APPLICATION.fields["ignoreDifferences"], "argoproj.io_applications.yaml", ("ignoreDifferences",)),
    (ie.MANAGED_NAMESPACE_METADATA, "argoproj.io_applications.yaml", ("syncPolicy", "managedNamespaceMetadata")),
    (ie.APPLICATION.fields["revisionHistoryLimit"], "argoproj.io_applications.yaml", ("revisionHistoryLimit",)),
    *[(shape, "argoproj.io_appprojects.yaml", (key,)) for key, shape in ie.APP_PROJECT.fields.items()],
    (ie.ROLE_REF, "configsync.gke.io_rootsyncs.yaml", ("override", "roleRefs", "[]")),
    (ie.OVERRIDE.fields["resources"], "configsync.gke.io_rootsyncs.yaml", ("override", "resources")),
    (ie.OVERRIDE.fields["logLevels"], "configsync.gke.io_rootsyncs.yaml", ("override", "logLevels")),
]


def _spec_schema(file: str, version: str | None = None) -> dict[str, Any]:
    lock = crds.load_lock(PROJECT)
    crd = next(c for c in lock.crds if c.name == file)
    mirror = os.environ.get("GITOPS_CRD_MIRROR")
    text = crds.fetch(crd, PROJECT, Path(os.environ["GITOPS_CACHE_DIR"]), mirror)
    doc = next(d for d in yaml.safe_load_all(text) if d)
    versions = doc["spec"]["versions"]
    chosen = next(v for v in versions if version is None and v.get("storage") or v["name"] == version)
    return chosen["schema"]["openAPIV3Schema"]["properties"]["spec"]


def _at(schema: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    for key in path:
        schema = schema["items"] if key == "[]" else schema["properties"][key]
    return schema


def _mismatches(shape: Shape, schema: dict[str, Any], where: str) -> list[str]:
    out: list[str] = []
    if isinstance(shape, Obj):
        props = schema.get("properties", {})
        out += [f"{where}.{k}: not a field of the CRD" for k in shape.fields if k not in props]
        out += [f"{where}.{k}: the CRD requires it" for k in schema.get("required", ()) if k not in shape.required]
        for k, sub in shape.fields.items():
            if k in props:
                out += _mismatches(sub, props[k], f"{where}.{k}")
    elif isinstance(shape, ListOf):
        if schema.get("type") != "array":
            out.append(f"{where}: a list here, {schema.get('type')} in the CRD")
        else:
            out += _mismatches(shape.item, schema["items"], f"{where}[]")
    elif isinstance(shape, MapOf) and schema.get("type") != "object":
        out.append(f"{where}: a mapping here, {schema.get('type')} in the CRD")
    elif isinstance(shape, OneOf):
        pass  # int-or-string quantities and percentages
    return out


@pytest.mark.parametrize(("shape", "file", "path"), PLACES, ids=[f"{p[1].split('_')[1]}:{'.'.join(p[2])}"
                                                                  for p in PLACES])
def test_each_shape_fits_its_crd(shape: Shape, file: str, path: tuple[str, ...]) -> None:
    if file.startswith("configsync"):
        schema = _at(_spec_schema(file, "v1beta1"), path)
    else:
        schema = _at(_spec_schema(file), path)
    assert _mismatches(shape, schema, ".".join(path)) == []


def test_the_checker_finds_a_field_the_crd_lacks() -> None:
    wrong = Obj({"kind": ie.TEXT, "nme": ie.TEXT}, ("kind",))
    schema = _at(_spec_schema("configsync.gke.io_rootsyncs.yaml", "v1beta1"), ("override", "roleRefs", "[]"))
    assert _mismatches(wrong, schema, "roleRefs[]") == ["roleRefs[].nme: not a field of the CRD",
                                                        "roleRefs[].name: the CRD requires it"]
