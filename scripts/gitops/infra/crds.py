"""CRD schemas: fetch the pinned upstream CRDs (crds.lock.yaml), check their sha256, convert them.

The conversion writes what kubeconform reads: one strict JSON schema per served version,
at <group>/<kind>_<version>.json. Strict means an unknown field is an error unless the CRD
says x-kubernetes-preserve-unknown-fields.
"""
from __future__ import annotations

import copy
import hashlib
import json
import re
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from gitops.infra import cachefs, fsio, settings, yamlsrc
from gitops.infra.yamlsrc import Fields
from gitops.model.errors import InputError, ToolError

LOCK_FILE = "crds.lock.yaml"
_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")
MAX_CRD_BYTES = 64 * 1024 * 1024
CONVERTER_VERSION = "3"  # bump when the conversion changes, to rebuild cached schemas
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class LockedCRD:
    name: str
    url: str
    sha256: str
    line: int


@dataclass(frozen=True)
class Lock:
    mirror: str | None
    crds: tuple[LockedCRD, ...]


def load_lock(root: Path) -> Lock:
    linked = fsio.linked_part(root, LOCK_FILE)
    if linked is not None:
        raise InputError(f"{linked} is a symbolic link; the CRD lock must be a file of the repository itself", LOCK_FILE)
    return _lock(yamlsrc.compose_file(root / LOCK_FILE, root))


def parse_lock(text: str) -> Lock:
    """The lock a crds.lock.yaml text (another git revision's) holds."""
    return _lock(yamlsrc.compose_text(text, LOCK_FILE))


def _lock(nodes: list[yaml.Node]) -> Lock:
    if len(nodes) != 1:
        raise InputError("expected one YAML document", LOCK_FILE)
    top = Fields(nodes[0], LOCK_FILE, ("mirror", "crds"), "the lock file")
    crds = []
    for node in top.items("crds"):
        entry = Fields(node, LOCK_FILE, ("name", "url", "sha256"), "a locked CRD")
        name, url = entry.string("name"), entry.string("url")
        sha256 = entry.string("sha256", pattern=_SHA256)
        crds.append(LockedCRD(name, url, sha256.lower(), node.start_mark.line + 1))
    return Lock(top.string("mirror", required=False) or None, tuple(crds))


def mirror_of(lock: Lock, given: str | None) -> str | None:
    """Where the locked CRD files are read offline: --crd-mirror, else GITOPS_CRD_MIRROR, else the lock's own
    `mirror:` (None: their URLs). The one place this is decided."""
    return given or settings.current().crd_mirror or lock.mirror


def _read_source(source: str, root: Path) -> bytes | None:
    """A mirror entry or URL: a directory/file path, a file:// URL, or http(s). None when absent."""
    parsed = urllib.parse.urlparse(source)
    if parsed.scheme in ("http", "https"):
        from urllib.error import URLError
        from urllib.request import urlopen  # only here: with its http and ssl modules it would cost every run ~20 ms

        try:
            with urlopen(source, timeout=20) as resp:
                data = resp.read(MAX_CRD_BYTES + 1)  # a CRD file is at most a few MB; never read without end
            return data if len(data) <= MAX_CRD_BYTES else None
        except (URLError, OSError):
            return None
    path = Path(urllib.parse.unquote(parsed.path)) if parsed.scheme == "file" else root / source
    if not path.is_file() or path.stat().st_size > MAX_CRD_BYTES:
        return None
    return path.read_bytes()


def fetch(crd: LockedCRD, root: Path, cache: Path, mirror: str | None, urls: bool = True) -> bytes:
    """The CRD's bytes, from the cache, the mirror or (when `urls`) the URL, always hash-checked (a cached copy
    too)."""
    cached = cache / "crds" / f"{crd.sha256}.yaml"
    data = cachefs.read(cached, MAX_CRD_BYTES)
    if data is not None and hashlib.sha256(data).hexdigest() == crd.sha256:
        return data
    tried = []
    for source in ([mirror.rstrip("/") + "/" + crd.name] if mirror else []) + ([crd.url] if urls else []):
        tried.append(source)
        data = _read_source(source, root)
        if data is None:
            continue
        digest = hashlib.sha256(data).hexdigest()
        if digest != crd.sha256:
            raise InputError(f"{crd.name} from {source} has sha256 {digest}, but the lock says {crd.sha256}",
                             LOCK_FILE, crd.line)
        fsio.write_atomic(cachefs.folder(cache, "crds") / cached.name, data)
        return data
    raise ToolError(f"cannot fetch {crd.name}; tried {', '.join(tried) or 'only the cache (no mirror, no URL)'}. "
                    "Offline, set --crd-mirror or "
                    "GITOPS_CRD_MIRROR to a directory holding the locked CRD files", LOCK_FILE, crd.line)


def _strict(schema: Any) -> Any:
    """Make an openAPIV3Schema strict, the way kubeconform's -strict expects of its schemas."""
    if isinstance(schema, list):
        return [_strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _strict(v) for k, v in schema.items()}
    if out.pop("x-kubernetes-int-or-string", False):
        out.pop("type", None)
        out.pop("format", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if out.pop("nullable", False) and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    preserve = out.get("x-kubernetes-preserve-unknown-fields")
    if "properties" in out and "additionalProperties" not in out and not preserve:
        out["additionalProperties"] = False
    return out


def _documents(crd_text: bytes) -> list[dict[str, Any]]:
    """The CustomResourceDefinitions of one file, parsed once for both its schemas and its scopes."""
    return [doc for doc in yaml.load_all(crd_text, Loader=_Loader)
            if doc and doc.get("kind") == "CustomResourceDefinition"]


def convert(crd_text: bytes, source: str) -> dict[str, dict[str, Any]]:
    """{"<group>/<kind>_<version>.json": schema} for every served version of a CRD file."""
    return _schemas(_documents(crd_text), source)


def _schemas(docs: list[dict[str, Any]], source: str) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for doc in docs:
        spec = doc["spec"]
        group, kind = spec["group"], spec["names"]["kind"]
        for version in spec.get("versions", []):
            if not version.get("served", True):
                continue
            schema = copy.deepcopy((version.get("schema") or {}).get("openAPIV3Schema"))
            if schema is None:
                raise InputError(f"CRD {kind}.{group} {version['name']} has no openAPIV3Schema", source)
            props = schema.setdefault("properties", {})
            props["apiVersion"] = {"type": "string", "enum": [f"{group}/{version['name']}"]}
            props["kind"] = {"type": "string", "enum": [kind]}
            props.setdefault("metadata", {"type": "object"})
            out[f"{group}/{kind.lower()}_{version['name']}.json"] = _strict(schema)
    return out


SCOPES_FILE = "scopes.json"  # {"<group>/<Kind>": "Cluster" | "Namespaced"} of every locked CRD
PLURALS_FILE = "plurals.json"  # {"<group>/<Kind>": spec.names.plural} of every locked CRD: RBAC's resource names


def crd_scopes(docs: list[dict[str, Any]]) -> dict[str, str]:
    """{"<group>/<Kind>": spec.scope} of the CRDs of one file: which custom kinds are cluster-scoped."""
    out = {}
    for doc in docs:
        spec = doc["spec"]
        out[f"{spec['group']}/{spec['names']['kind']}"] = str(spec.get("scope", "Namespaced"))
    return out


def crd_plurals(docs: list[dict[str, Any]]) -> dict[str, str]:
    """{"<group>/<Kind>": spec.names.plural} of the CRDs of one file."""
    return {f"{d['spec']['group']}/{d['spec']['names']['kind']}": str(d["spec"]["names"]["plural"]) for d in docs}


def scopes(root: Path, cache: Path, mirror: str | None) -> dict[str, str]:
    """The scope of every locked CRD's kind, read from the materialized schema folder (made once, cached)."""
    return json.loads((materialize(root, cache, mirror) / SCOPES_FILE).read_text())


def plurals(root: Path, cache: Path, mirror: str | None) -> dict[str, str]:
    """The resource name (plural) of every locked CRD's kind, from the same folder."""
    return json.loads((materialize(root, cache, mirror) / PLURALS_FILE).read_text())


def materialize(root: Path, cache: Path, mirror: str | None, urls: bool = True) -> Path:
    """Convert every locked CRD into a schema folder (cached by the lock's hashes, and verified on every use: a
    replaced schema there must not hide a schema error); return the folder. The one CRD lookup of commands and
    tests (`urls=False`: the cache and the mirror only, never the network)."""
    lock = load_lock(root)
    mirror = mirror_of(lock, mirror)
    key = hashlib.sha256((CONVERTER_VERSION + "".join(c.sha256 for c in lock.crds)).encode()).hexdigest()[:16]

    def convert_all() -> dict[str, str]:
        files: dict[str, str] = {}
        kinds: dict[str, str] = {}
        names: dict[str, str] = {}
        for crd in lock.crds:
            docs = _documents(fetch(crd, root, cache, mirror, urls))
            kinds.update(crd_scopes(docs))
            names.update(crd_plurals(docs))
            files |= {rel: json.dumps(schema, sort_keys=True) for rel, schema in _schemas(docs, crd.name).items()}
        files[SCOPES_FILE] = json.dumps(kinds, sort_keys=True)
        files[PLURALS_FILE] = json.dumps(names, sort_keys=True)
        return files

    return cachefs.sealed(cache, cache / "schemas" / f"crds-{key}", convert_all)
