"""Every file the tooling writes goes through here: atomic, confined to its folder, no debris.

A write is a temporary file in the target's own folder, fsync'd, then renamed over the target,
so a reader (a sync engine, a second run, CI) sees the old file or the new one, never half of
one. The temporary file is removed on any failure, and the new file gets the mode a plain
`open()` would give it (0666 less the umask), not mkstemp's 0600.

A target that exists and is not a regular file (a symlink, a device such as /dev/null, a FIFO, a
socket) is refused, never replaced: the tooling runs as root in CI, and a report path is written by
a workflow, or committed by a pull request as a link. Output paths named on the command line are also
refused when a folder on their way inside the checkout is a link (`check_output`). The one file that
is appended to, GitHub's job summary, is opened without following a link and must be a regular file
(`append`).
"""
from __future__ import annotations

import hashlib
import os
import shutil
import stat
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from gitops.model.errors import InputError, UsageError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def inside(path: Path, folder: Path) -> bool:
    """True when `path` (made absolute, `..` folded, symlinks of existing parts followed) lies in `folder`."""
    return inside_real(path, os.path.realpath(folder))


def inside_real(path: Path | str, real_folder: str) -> bool:
    """inside(), given the folder's realpath: a caller checking many paths against one folder (the
    validate cache hashes every file of every closure) resolves the folder once."""
    try:
        Path(os.path.realpath(path)).relative_to(real_folder)
    except ValueError:
        return False
    return True


def confined(folder: Path, rel: str) -> Path:
    """`folder/rel`, refused unless it stays inside `folder` (object names come from the repository)."""
    path = folder / rel
    if os.path.isabs(rel) or not inside(path, folder):
        raise InputError(f"refusing to write {rel!r}: it would land outside {folder.name}/")
    return path


def sha256_file(path: Path | str) -> str:
    """sha256 of a file's content, read in pieces (callers check first that it is a regular file)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def linked_part(root: Path, rel: str) -> str | None:
    """The first part of `rel` (itself, or a folder on the way) that is a symbolic link, or None.
    A file the tooling reads as configuration must be the repository's own, never a link to elsewhere."""
    parts = rel.split("/")
    for i in range(1, len(parts) + 1):
        part = "/".join(parts[:i])
        if os.path.islink(root / part):
            return part
    return None


def read_bounded(path: Path | str, shown: str, limit: int, limit_name: str, hint: str = "") -> bytes:
    """The bytes of a regular file of at most `limit` bytes; InputError naming `shown` otherwise.

    Opened without blocking and checked on the open descriptor: a FIFO or a device (`/dev/zero`)
    is refused at once, never read until memory runs out or waited on forever."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    except FileNotFoundError:
        raise InputError("file not found", shown) from None
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", shown) from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):  # a folder, FIFO or device: closed unread
        os.close(fd)
        raise InputError("not a regular file", shown)
    with os.fdopen(fd, "rb") as fh:
        if info.st_size > limit:
            raise InputError(f"file is {info.st_size:,} bytes, over the limit of {limit:,} ({limit_name}){hint}", shown)
        try:
            data = fh.read(limit + 1)
        except OSError as exc:
            raise InputError(f"cannot read: {exc.strerror or exc}", shown) from None
    if len(data) > limit:
        raise InputError(f"file is over the limit of {limit:,} bytes ({limit_name}){hint}", shown)
    return data


_KINDS = ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"))


def _special(mode: int) -> str | None:
    """What a file of this mode is when it is neither a regular file nor a folder; None otherwise."""
    return next((what for test, what in _KINDS if test(mode)), None)


def refuse_special(path: Path) -> None:
    """UsageError naming `path` when it exists and is a link, device, FIFO or socket."""
    try:
        what = _special(os.lstat(path).st_mode)
    except OSError:
        return  # missing (to be created), or unreadable: the write itself says why
    if what is not None:
        raise UsageError(f"refusing to write {path}: it is {what}; nothing was written")


def check_output(path: Path, within: tuple[Path, ...]) -> None:
    """Refuse an output path that is a link, device, FIFO or socket, or whose folders inside any of
    `within` (the working directory, the repository) include a link: a pull request can commit one."""
    refuse_special(path)
    full = Path(os.path.abspath(path))
    tops = [Path(os.path.abspath(w)) for w in within if os.path.abspath(w) != os.path.abspath(os.sep)]
    for folder in full.parents:
        if any(folder != top and folder.is_relative_to(top) for top in tops) and os.path.islink(folder):
            raise UsageError(f"refusing to write {path}: its folder {folder} is a symbolic link; nothing was written")


def write_atomic(path: Path, data: str | bytes) -> None:
    """Replace `path` with `data` (str is written as UTF-8) atomically; raise UsageError naming the path
    when it cannot be written (missing permission, a folder in the way, a name too long) or when it is
    a link, device, FIFO or socket (never replaced)."""
    payload = data.encode("utf-8") if isinstance(data, str) else data
    tmp: str | None = None
    refuse_special(path)
    try:
        if path.name in ("", ".", ".."):
            raise IsADirectoryError(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_dir():
            raise IsADirectoryError(path)
        fd, tmp = tempfile.mkstemp(prefix=".gitops-", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc.__class__.__name__}") from None
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass


def append(path: Path, data: str) -> None:
    """Add `data` at the end of the regular file `path` (created if missing) in one write; UsageError when it
    is a link, device, FIFO or socket. For GitHub's job summary, which other steps write to as well."""
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, 0o666)
    except OSError as exc:
        refuse_special(path)  # a link (ELOOP) or a FIFO nobody reads (ENXIO): say what it is
        raise UsageError(f"cannot write {path}: {exc.strerror or exc.__class__.__name__}") from None
    try:
        what = _special(os.fstat(fd).st_mode)
        if what is not None:
            raise UsageError(f"refusing to write {path}: it is {what}; nothing was written")
        view = memoryview(data.encode("utf-8"))
        while view:
            view = view[os.write(fd, view):]
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc.__class__.__name__}") from None
    finally:
        os.close(fd)


def read_head(path: Path, size: int) -> bytes | None:
    """The first `size` bytes of `path` when it is a regular file (never through a link, never blocking on a
    FIFO); None otherwise."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        return os.read(fd, size)
    except OSError:
        return None
    finally:
        os.close(fd)


@contextmanager
def staging_dir(target: Path) -> Iterator[Path]:
    """A fresh folder beside `target` to fill; on success it replaces `target` in one rename (when
    `target` already exists, e.g. another run got there first, the new copy is dropped). On any
    failure, and in every case afterwards, nothing but `target` is left behind."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())
        try:
            os.rename(tmp, target)
        except OSError:
            if not target.is_dir():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_tree(folder: Path, files: dict[str, str]) -> None:
    """Write `files` ({relative path: text}) under a fresh staging `folder`, each path confined to it.
    The files are flushed to disk before returning, so a rename of the folder publishes whole files."""
    for rel, text in files.items():
        path = confined(folder, rel)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
    if hasattr(os, "sync"):
        os.sync()


def replace_trees(root: Path, trees: dict[str, dict[str, str]]) -> None:
    """Replace each top-level folder `root/name` with exactly its files, all or nothing.

    Everything is written to one staging folder first; then each old tree is moved aside and the new
    one moved in. If any step fails, the trees already swapped are moved back, so the old trees stay
    intact, and the staging folder (new and old copies) is removed.
    """
    for name in trees:
        if "/" in name or name in ("", ".", ".."):
            raise InputError(f"refusing to replace {name!r}: not a top-level folder")
        if os.path.islink(root / name):
            raise InputError(f"{name} is a symlink; it must be a folder of the repository", name)
    staging = Path(tempfile.mkdtemp(prefix=".gitops-render-", suffix=".tmp", dir=root))
    swapped: list[str] = []
    try:
        for name, files in trees.items():
            (staging / "new" / name).mkdir(parents=True)
            write_tree(staging / "new" / name, files)
            os.chmod(staging / "new" / name, 0o777 & ~_umask())
        (staging / "old").mkdir()
        try:
            for name in trees:
                target = root / name
                if target.exists():
                    os.rename(target, staging / "old" / name)
                swapped.append(name)
                os.rename(staging / "new" / name, target)
        except OSError:
            for name in reversed(swapped):  # put the old trees back
                if (root / name).exists() and not (staging / "new" / name).exists():
                    os.rename(root / name, staging / "new" / name)
                if (staging / "old" / name).exists():
                    os.rename(staging / "old" / name, root / name)
            raise
    except OSError as exc:
        raise UsageError(f"cannot write {', '.join(trees)}: {exc.strerror or exc}; the old trees are unchanged") \
            from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
