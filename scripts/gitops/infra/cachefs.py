"""The cache folder's files: what a run reads back is what a run of this user wrote, or a miss.

- Every entry and every converted schema folder is authenticated with an HMAC under a secret key made
  for the cache folder (`key`, 32 random bytes, mode 0600, created there on first use), so a file the
  tooling did not write (a forged entry, a replaced schema) is a miss and is made again, never a verdict.
  Whoever can read the key can forge entries: it stays in the cache folder, outside the checkout, and CI
  saves the cache only from trusted runs (README: Cache and shards).
- No link is followed: a link where a folder of the cache belongs is removed (the link itself) and a real
  folder made; a file is opened with O_NOFOLLOW and must be a regular file within a size limit.
- Pruning walks only real folders below the cache folder and removes files and links, never what a link
  points at, so it never leaves the cache folder.
"""
from __future__ import annotations

import errno
import hashlib
import hmac
import json
import os
import shutil
import stat
import tempfile
import time
from pathlib import Path
from typing import Callable

from gitops.infra import fsio
from gitops.model.errors import ToolError

KEY_FILE = "key"
_KEY_BYTES = 32
MANIFEST = ".sealed.json"  # in a sealed folder: every file's sha256, and the HMAC over them
MAX_MANIFEST_BYTES = 16 * 1024 * 1024
_intact: dict[str, tuple] = {}  # sealed folder -> the stat signature it had when it was last verified


def folder(base: Path, *parts: str) -> Path:
    """`base/parts...`, each part a real folder of the cache (made when missing, mode 0700; a link or a file in its
    way is removed, never followed)."""
    base.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = base
    for part in parts:
        path = path / part
        for _ in range(3):  # another run may make or replace it at the same time
            try:
                if stat.S_ISDIR(os.lstat(path).st_mode):
                    break
                os.unlink(path)
            except FileNotFoundError:
                pass
            try:
                os.mkdir(path, 0o700)
                break
            except FileExistsError:
                continue
    return path


def read(path: Path, max_bytes: int) -> bytes | None:
    """The bytes of a regular file of the cache, None when it is absent, a link, not a regular file or too big.
    O_NONBLOCK: a FIFO planted there must not block the run."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > max_bytes:
            return None
        with os.fdopen(fd, "rb", closefd=False) as fh:
            data = fh.read(max_bytes + 1)
        return data if len(data) <= max_bytes else None
    finally:
        os.close(fd)


class Seal:
    """HMAC-SHA256 under the cache folder's secret key."""

    def __init__(self, base: Path) -> None:
        self._key = _key(base)

    def tag(self, *parts: bytes) -> str:
        mac = hmac.new(self._key, digestmod=hashlib.sha256)
        for part in parts:
            mac.update(len(part).to_bytes(8, "big"))
            mac.update(part)
        return mac.hexdigest()

    def valid(self, tag: object, *parts: bytes) -> bool:
        return isinstance(tag, str) and hmac.compare_digest(tag, self.tag(*parts))


def _key(base: Path) -> bytes:
    """The cache folder's secret key: made on first use; replaced (every entry then a miss) when it is not a regular
    file of this user, of the right size, that nobody else may read."""
    path = folder(base) / KEY_FILE
    for _ in range(3):
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except FileNotFoundError:
            fd = -1
        except OSError as exc:
            if exc.errno != errno.ELOOP:
                raise ToolError(f"cannot read the cache key {path}: {exc.strerror or exc}") from None
            fd = -1
        if fd >= 0:
            try:
                info = os.fstat(fd)
                key = os.read(fd, _KEY_BYTES + 1)
            finally:
                os.close(fd)
            if (stat.S_ISREG(info.st_mode) and info.st_uid == os.geteuid() and not info.st_mode & 0o077
                    and len(key) == _KEY_BYTES):
                return key
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        fd, tmp = tempfile.mkstemp(prefix=".key-", dir=path.parent)  # mode 0600
        try:
            os.write(fd, os.urandom(_KEY_BYTES))
            os.fsync(fd)
            os.close(fd)
            os.link(tmp, path)  # fails when another run made one meanwhile: that one is read instead
        except FileExistsError:
            pass
        finally:
            os.unlink(tmp)
    raise ToolError(f"cannot make the cache key {path}")


def prune(top: Path, max_age_days: float) -> None:
    """Remove the files under `top` (a real folder of the cache) that were not used for `max_age_days`, and any link
    found there: the walk never follows one, so it never leaves `top`."""
    limit = time.time() - max_age_days * 86400
    for here, dirs, names in os.walk(top):  # followlinks=False: a link to a folder is listed, not entered
        for name in names + [d for d in dirs if os.path.islink(os.path.join(here, d))]:
            path = os.path.join(here, name)
            try:
                info = os.lstat(path)
                if stat.S_ISLNK(info.st_mode) or info.st_mtime < limit:
                    os.unlink(path)
            except OSError:
                continue


def _signature(target: Path) -> tuple | None:
    """Every entry under `target` with its kind, size, inode and change time (a replaced or touched file changes it);
    None when a link or anything but a folder or a regular file is there."""
    out = []
    for here, dirs, names in os.walk(target):
        dirs.sort()
        for name in sorted(names) + dirs:
            info = os.lstat(os.path.join(here, name))
            if not (stat.S_ISREG(info.st_mode) or stat.S_ISDIR(info.st_mode)):
                return None
            out.append((os.path.relpath(os.path.join(here, name), target), info.st_mode, info.st_size, info.st_ino,
                        info.st_mtime_ns, info.st_ctime_ns))
    return tuple(out)


def _verified(seal: Seal, target: Path) -> bool:
    """`target` is a real folder holding exactly the files its manifest lists, each with its sha256, and the manifest
    carries this cache's HMAC over the folder's name and those files."""
    try:
        if not stat.S_ISDIR(os.lstat(target).st_mode):
            return False
        signature = _signature(target)
    except OSError:
        return False
    if signature is None:
        return False
    if _intact.get(str(target)) == signature:
        return True
    raw = read(target / MANIFEST, MAX_MANIFEST_BYTES)
    try:
        manifest = json.loads(raw) if raw is not None else None
    except ValueError:
        return False
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        return False
    files: dict = manifest["files"]
    body = json.dumps(files, sort_keys=True).encode()
    if not seal.valid(manifest.get("mac"), target.name.encode(), body):
        return False
    present = {rel for rel, mode, *_ in signature if stat.S_ISREG(mode)} - {MANIFEST}
    if present != set(files):
        return False
    for rel, digest in files.items():
        data = read(target / rel, 1 << 30)
        if data is None or hashlib.sha256(data).hexdigest() != digest:
            return False
    _intact[str(target)] = signature
    return True


def sealed(base: Path, target: Path, make: Callable[[], dict[str, str]]) -> Path:
    """`target`, a folder under the cache folder `base` holding the files `make()` returns ({relative path: text}):
    used when it verifies, else removed (never through a link) and made again, staged and renamed into place."""
    seal = Seal(base)
    if _verified(seal, target):
        return target
    if os.path.islink(target) or target.is_file():
        os.unlink(target)
    elif target.is_dir():
        shutil.rmtree(target)  # removes links inside, never what they point at
    folder(base, *target.relative_to(base).parent.parts)
    with fsio.staging_dir(target) as staging:
        files = make()
        digests = {rel: hashlib.sha256(text.encode("utf-8")).hexdigest() for rel, text in files.items()}
        body = json.dumps(digests, sort_keys=True).encode()
        manifest = json.dumps({"files": digests, "mac": seal.tag(target.name.encode(), body)})
        fsio.write_tree(staging, {**files, MANIFEST: manifest})
    if not _verified(seal, target):
        raise ToolError(f"the cache folder {target} could not be made (another run replacing it?); run again")
    return target


def seed(target: Path, source: Path) -> None:
    """Make `target` a cache folder holding `source`'s converted schemas and fetched CRDs (hard links) and its key,
    so they verify there: a fresh validate cache without converting the schemas again (tests, `nox -s bench`).
    Hard links share the files: replace one (a new file renamed over it), never write into it."""
    folder(target)
    for name in ("schemas", "crds"):
        if (source / name).is_dir() and not (source / name).is_symlink():
            shutil.copytree(source / name, target / name, copy_function=os.link, dirs_exist_ok=True)
    key = read(source / KEY_FILE, _KEY_BYTES)
    if key is not None:
        fd = os.open(target / KEY_FILE, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(key)
