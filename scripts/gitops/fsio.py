"""Every file the tooling writes goes through here: atomic, confined to its folder, no debris.

A write is a temporary file in the target's own folder, fsync'd, then renamed over the target,
so a reader (a sync engine, a second run, CI) sees the old file or the new one, never half of
one. The temporary file is removed on any failure, and the new file gets the mode a plain
`open()` would give it (0666 less the umask), not mkstemp's 0600.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .errors import InputError, UsageError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def inside(path: Path, folder: Path) -> bool:
    """True when `path` (made absolute, `..` folded, symlinks of existing parts followed) lies in `folder`."""
    try:
        Path(os.path.realpath(path)).relative_to(os.path.realpath(folder))
    except ValueError:
        return False
    return True


def confined(folder: Path, rel: str) -> Path:
    """`folder/rel`, refused unless it stays inside `folder` (object names come from the repository)."""
    path = folder / rel
    if os.path.isabs(rel) or not inside(path, folder):
        raise InputError(f"refusing to write {rel!r}: it would land outside {folder.name}/")
    return path


def write_atomic(path: Path, data: str | bytes) -> None:
    """Replace `path` with `data` (str is written as UTF-8) atomically; raise UsageError naming the path
    when it cannot be written (missing permission, a folder in the way, a name too long)."""
    payload = data.encode("utf-8") if isinstance(data, str) else data
    tmp: str | None = None
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
