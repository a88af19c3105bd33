"""Content-addressed cache of validate's per-overlay work, in the cache folder (owned.cache_dir: outside the
repository by default) under validate/.

A pull request usually touches one overlay, or none of the files a build reads; rebuilding and
re-checking fifty identical overlays is where a second run's time would go. So:

- each overlay's build (the documents kustomize printed) is stored under a key that hashes everything
  the build can read: every file of its kustomization closure (kustomizations.Closures) and every file
  under each of its kustomizations' folders, whatever its name, with links followed inside the
  repository (Closures.reach); the overlay's path; the pinned tool versions and kbuild's source hash;
  the schema set (the CRD lock, schemas/, the kubernetes-validate version, the converters' versions);
- each distinct document's schema result is stored per Kubernetes minor, under the same versions
  and schema set.

Everything after that (parsing each distinct document once, the stale check, every policy across
all clusters, waivers) runs on every validate; only kustomize and kubeconform are skipped.

Entries are untrusted: each file starts with a header naming the format, its own key and an HMAC
of format, kind, key and payload under the cache folder's secret key (cachefs.Seal). A torn, corrupt,
foreign (another key's file moved in place), older-format or forged entry (a file this user's runs did
not write) fails the check and is rebuilt and overwritten, never used. Nothing in the cache folder is
read or written through a link (cachefs).
"""
from __future__ import annotations

import hashlib
import json
import os
import posixpath
import stat
from collections import defaultdict
from pathlib import Path
from typing import Any, Iterable

from gitops.run.stages import build
from gitops.infra import cachefs, crds, schemas, tools
from gitops.model.errors import ToolError
from gitops.infra.fsio import inside_real, sha256_file, write_atomic
from gitops.model.inventory import Cluster, Inventory
from gitops.infra.kustomizations import Closures
from gitops.run.stages.parse import Documents
from gitops.model.resources import Resource
from gitops.run.stages.schema import SchemaProblem

FORMAT = "gitops-validate-cache/2"  # bump when what an entry holds, or how it is derived, changes
FOLDER = "validate"
MAX_ENTRY_BYTES = 1 << 30  # an entry bigger than this was not written by a run (the parse entry of 1,000 clusters: ~10 MB)
MAX_AGE_DAYS = 30.0  # a build entry no run has used for this long is removed
MAX_SCHEMA_RESULTS = 100_000  # distinct documents remembered per Kubernetes minor


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _file_digest(root: Path, rel: str, real_root: str | None = None) -> str:
    """sha256 of a file's content, read in pieces. A symlink that leaves the repository, or anything but a
    regular file, is never opened (a committed link to /dev/zero would never end): its link text stands
    for it, and the build refuses such a link anyway (kustomizations.Closures)."""
    path = root / rel
    try:
        if not inside_real(path, real_root or os.path.realpath(root)) or not stat.S_ISREG(os.stat(path).st_mode):
            return "link:" + os.readlink(path) if os.path.islink(path) else "special"
    except OSError:
        return "unreadable"
    return _content_sha(path)


def _content_sha(path: Path) -> str:
    """sha256 of a regular file's content, read in pieces (fsio.sha256_file), "unreadable" when it cannot be."""
    try:
        return sha256_file(path)
    except OSError:
        return "unreadable"


def document_text(res: Resource) -> str:
    """The text a document is validated as: kustomize's own, or JSON for objects made in Python
    (schemacheck feeds kubeconform the same)."""
    return res.text if res.text is not None else json.dumps(res.body)


class Cache:
    """One run's view of the cache: the shared inputs' hash, file hashes memoised across overlays."""

    def __init__(self, root: Path, folder: Path) -> None:
        self.root = root
        self.folder = cachefs.folder(folder, FOLDER)
        self.seal = cachefs.Seal(folder)
        self._files: dict[str, str] = {}
        self._folders: dict[str, str] = {}
        self._texts: dict[str, str] = {}
        self._real_root = os.path.realpath(root)  # resolved once: every file's digest checks it stays inside  # document text -> its sha256, each distinct text hashed once per run
        self.hits: set[str] = set()  # clusters whose build came from the cache in this run
        digest = hashlib.sha256(FORMAT.encode())
        for part in (tools.KUSTOMIZE.version, tools.KUBECONFORM.version, tools.kbuild_source(root), schemas.CONVERSION,
                     crds.CONVERTER_VERSION, _schema_package(), self._file(crds.LOCK_FILE)):
            digest.update(f"{part}\0".encode())
        handwritten = root / schemas.HANDWRITTEN
        for path in sorted(handwritten.rglob("*")) if handwritten.is_dir() else ():
            if path.is_file():
                rel = path.relative_to(root).as_posix()
                digest.update(f"{rel}\0{self._file(rel)}\0".encode())
        self.inputs = digest.hexdigest()

    def _file(self, rel: str) -> str:
        """sha256 of a repository file's content, read and hashed once per run however many keys name it."""
        if rel not in self._files:
            self._files[rel] = _file_digest(self.root, rel, self._real_root)
        return self._files[rel]

    def _text_sha(self, text: str) -> str:
        """sha256 of a document's text: fifty clusters mostly receive the same documents, so memoised."""
        found = self._texts.get(text)
        if found is None:
            found = self._texts[text] = _sha(text.encode())
        return found

    # -- entries ---------------------------------------------------------------------------

    def _path(self, kind: str, key: str) -> Path:
        return self.folder / kind / key[:2] / f"{key}.json"

    def _mac(self, kind: str, key: str, body: bytes) -> str:
        return self.seal.tag(FORMAT.encode(), kind.encode(), key.encode(), body)

    def get(self, kind: str, key: str) -> Any | None:
        """The payload stored under key, or None when absent or not exactly what a run wrote for it."""
        raw = cachefs.read(self._path(kind, key), MAX_ENTRY_BYTES)
        if raw is None:
            return None
        head, sep, body = raw.partition(b"\n")
        try:
            header = json.loads(head)
            if (not sep or not isinstance(header, dict) or header.get("format") != FORMAT
                    or header.get("key") != key or not self.seal.valid(header.get("mac"), FORMAT.encode(),
                                                                       kind.encode(), key.encode(), body)):
                return None
            return json.loads(body)
        except ValueError:
            return None

    def _touch(self, kind: str, key: str) -> None:
        """Mark an entry used (its mtime), so that prune keeps what is still in use."""
        try:
            os.utime(self._path(kind, key), follow_symlinks=False)
        except OSError:
            pass

    def prune(self, kind: str, max_age_days: float = MAX_AGE_DAYS) -> None:
        """Remove entries unused for max_age_days: a cache CI carries from run to run must not grow forever."""
        cachefs.prune(cachefs.folder(self.folder, kind), max_age_days)

    def put(self, kind: str, key: str, payload: Any) -> None:
        body = json.dumps(payload, separators=(",", ":")).encode()
        head = json.dumps({"format": FORMAT, "key": key, "mac": self._mac(kind, key, body)}).encode()
        path = cachefs.folder(self.folder, kind, key[:2]) / f"{key}.json"
        try:  # the cache's own folder: an entry that is not a regular file (a FIFO, a link) is replaced, never kept
            if not stat.S_ISREG(os.lstat(path).st_mode):
                os.unlink(path)
        except FileNotFoundError:
            pass
        write_atomic(path, head + b"\n" + body)

    # -- builds ----------------------------------------------------------------------------

    def _folder(self, closures: Closures, rel: str) -> str:
        """Hash of everything the build can read under a kustomization's folder, whatever the names (a file read
        through a transformer's config may sit in `.nox/`): each path, link text and content, memoised."""
        if rel not in self._folders:
            digest = hashlib.sha256()
            for entry in closures.reach(rel):
                if entry.folder:
                    content = ""
                elif entry.real is None or not entry.regular:  # never opened: a link out, a FIFO, a device
                    content = "outside" if entry.real is None else "special"
                else:  # a regular file of the repository: hashed once, and _file(path) need not resolve it again
                    content = self._files.get(entry.path) or self._files.setdefault(
                        entry.path, _content_sha(self.root / entry.real))
                digest.update(f"{entry.path}\0{entry.link}\0{content}\0".encode())
            self._folders[rel] = digest.hexdigest()
        return self._folders[rel]

    def _key(self, closures: Closures, overlay: str, files: list[str], folders: list[str]) -> str:
        trees = [(rel, self._folder(closures, rel)) for rel in sorted(folders)]  # first: they hash the files too
        digest = hashlib.sha256(f"{self.inputs}\0build\0{overlay}\0".encode())
        for rel in sorted(files):
            digest.update(f"{rel}\0{self._file(rel)}\0".encode())
        for rel, tree in trees:
            digest.update(f"{rel}/\0{tree}\0".encode())
        return digest.hexdigest()

    def build_key(self, closures: Closures, overlay: str) -> str:
        """The closure's files, and everything under each of its kustomizations' folders (links followed): with
        the load restrictor on, a kustomization reads nothing outside its folder but what a link there leads
        to, so a file the walk does not know (a path inside a transformer's config, say) still changes the key.

        The walk itself (parsing every kustomization) is skipped when the closure the last run found
        still gives a key with an entry: that key hashes every kustomization file the closure was
        derived from, so an equal key means the walk would find the same closure again."""
        memo_key = _sha(f"{self.inputs}\0closure\0{overlay}".encode())
        memo = self.get("closures", memo_key)
        if (isinstance(memo, dict) and isinstance(memo.get("files"), list) and isinstance(memo.get("folders"), list)
                and all(isinstance(x, str) for x in memo["files"] + memo["folders"])):
            key = self._key(closures, overlay, memo["files"], memo["folders"])
            if os.path.isfile(self._path("builds", key)):
                return key
        closure = closures.of(self.root / overlay)  # remote, missing, absolute references: InputError
        files, folders = sorted(closure.files), sorted({posixpath.dirname(k) for k in closure.kustomizations})
        if memo != {"files": files, "folders": folders}:
            self.put("closures", memo_key, {"files": files, "folders": folders})
        return self._key(closures, overlay, files, folders)

    def render(self, kz: build.Kustomize, inv: Inventory, workers: int | None = None,
               clusters: list[Cluster] | None = None) -> dict[str, list[Resource]]:
        """Each cluster's resources (all, or `clusters`): from the cache where its closure is unchanged,
        else built (and stored)."""
        wanted = list(inv.clusters) if clusters is None else clusters
        closures = Closures(self.root)
        keys = {c.name: self.build_key(closures, c.overlay) for c in wanted}
        stored = {c.name: self.get("builds", keys[c.name]) for c in wanted}
        hits = {name: texts for name, texts in stored.items()
                if isinstance(texts, list) and all(isinstance(t, str) for t in texts)}
        # One string object per distinct text (the clusters share most documents): every later lookup by
        # text (parse, schema verdicts, sha) then hashes it once and compares by identity.
        distinct: dict[str, str] = {}
        hits = {name: [distinct.setdefault(t, t) for t in texts] for name, texts in hits.items()}
        documents = Documents()
        parse_key = _sha(f"{self.inputs}\0parse".encode())
        bodies = self.get("parse", parse_key) if hits else None
        if isinstance(bodies, dict):
            for t in distinct:
                body = bodies.get(self._text_sha(t))
                if isinstance(body, dict):
                    documents.known(t, body)
        resources: dict[str, list[Resource]] = {}
        for name, texts in hits.items():
            resources[name] = [r for r in (_resource(name, t, documents) for t in texts) if r is not None]
            self.hits.add(name)
            self._touch("builds", keys[name])
        misses = [c for c in wanted if c.name not in resources]
        built = build.build_all(kz, misses, self.root, workers, closures, documents)
        for c in misses:
            items = built[c.name]
            if all(r.text is not None for r in items):  # an object carrying build annotations: never cached
                self.put("builds", keys[c.name], [r.text for r in items])
        if misses or not isinstance(bodies, dict):
            self.put("parse", parse_key, _json_safe(documents.parsed()))
            self.prune("builds")
        return {c.name: resources[c.name] if c.name in resources else built[c.name] for c in wanted}

    # -- schema results --------------------------------------------------------------------

    def _schema_key(self, minor: str) -> str:
        return _sha(f"{self.inputs}\0schema\0{minor}".encode())

    def schema_known(self, inv: Inventory, to_check: dict[str, list[Resource]]
                     ) -> tuple[dict[str, list[Resource]], list[SchemaProblem]]:
        """(what kubeconform must still check, the problems already known for the rest)."""
        remaining: dict[str, list[Resource]] = {}
        known: list[SchemaProblem] = []
        stored: dict[str, dict] = {}
        for cluster, items in to_check.items():
            minor = inv.cluster(cluster).kubernetes_version
            if minor not in stored:
                got = self.get("schema", self._schema_key(minor))
                stored[minor] = got if isinstance(got, dict) else {}
            for res in items:
                found = _problems(stored[minor].get(self._text_sha(document_text(res))), res)
                if found is None:
                    remaining.setdefault(cluster, []).append(res)
                else:
                    known += found
        return remaining, known

    def schema_store(self, inv: Inventory, checked: dict[str, list[Resource]],
                     problems: Iterable[SchemaProblem]) -> None:
        """Record kubeconform's verdict on every document it checked (no problem is a verdict too)."""
        if not checked:
            return
        by_res: dict[int, list[list]] = defaultdict(list)
        for p in problems:
            by_res[id(p.resource)].append([p.pointer, p.message, p.missing_schema])
        per_minor: dict[str, dict[str, list]] = defaultdict(dict)
        for cluster, items in checked.items():
            minor = inv.cluster(cluster).kubernetes_version
            for res in items:
                per_minor[minor].setdefault(self._text_sha(document_text(res)), by_res.get(id(res), []))
        for minor, results in per_minor.items():
            key = self._schema_key(minor)
            old = self.get("schema", key)
            old = old if isinstance(old, dict) and len(old) < MAX_SCHEMA_RESULTS else {}  # bounded: start over
            self.put("schema", key, {**old, **results})


def _json_safe(parsed: dict[str, Any]) -> dict[str, Any]:
    """{sha of text: body} for the bodies JSON gives back unchanged (not a YAML date or a non-string
    key, say): json.loads of them is several times faster than parsing the YAML again."""
    out = {}
    for text, body in parsed.items():
        try:
            if isinstance(body, dict) and json.loads(json.dumps(body)) == body:
                out[_sha(text.encode())] = body
        except (TypeError, ValueError):
            continue
    return out


def _resource(cluster: str, text: str, documents: Documents) -> Resource | None:
    body = documents.load(text)
    return Resource(cluster, body, text=text) if isinstance(body, dict) else None


def _problems(entry: Any, res: Resource) -> list[SchemaProblem] | None:
    """A stored verdict as SchemaProblems of this resource; None when absent or malformed."""
    if not isinstance(entry, list):
        return None
    out = []
    for item in entry:
        if not (isinstance(item, list) and len(item) == 3 and isinstance(item[0], str)
                and isinstance(item[1], str) and isinstance(item[2], bool)):
            return None
        out.append(SchemaProblem(res, item[0], item[1], item[2]))
    return out


def _schema_package() -> str:
    """The installed kubernetes-validate (the built-in schemas), for the key: the sha256 of its version.py,
    which holds its version string. Asking importlib.metadata instead would import it and the email
    parser with it, a tenth of a warm run's time; the metadata version is the fallback."""
    try:
        return "version.py " + _sha((schemas._k8s_base().parent / "version.py").read_bytes())
    except (OSError, ToolError):
        return _package_version("kubernetes-validate")


def _package_version(name: str) -> str:
    import importlib.metadata

    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "absent"
