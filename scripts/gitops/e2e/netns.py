"""A private network namespace with only `lo`, for the throwaway control plane of `nox -s e2e`.

The objects e2e applies come from pull requests, and some make kube-apiserver call out: an admission
webhook's URL, a CRD's conversion webhook, an APIService's Service. e2e never registers those
(e2e.py), and as a second wall the servers run where there is no network to reach: a network
namespace of their own whose only interface is its loopback. From there, 127.0.0.1 is the namespace's
own loopback, not the machine's, so not even a server on the machine's loopback can be reached.

`isolated()` moves the calling thread into a new namespace (unshare(CLONE_NEWNET), as `unshare -n`
does), brings its `lo` up, checks that `lo` is all there is, and moves the thread back when the block
ends. Threads and processes started inside inherit the namespace: e2e starts etcd, every
kube-apiserver, and the threads that talk to them (the Python client) inside the block, so the
client reaches the servers over the namespace's loopback and nothing else. The namespace disappears
when its last process and socket are gone.

This needs CAP_SYS_ADMIN (root, as in CI; or `unshare -r -n` around the whole command, after the tools
are built). Without it e2e refuses to run (exit 2) rather than run unisolated.
"""
from __future__ import annotations

import ctypes
import fcntl
import os
import socket
import struct
import threading
from contextlib import contextmanager
from typing import Iterator

from gitops.model.errors import ToolError

CLONE_NEWNET = 0x40000000
_SIOCGIFFLAGS, _SIOCSIFFLAGS, _IFF_UP = 0x8913, 0x8914, 0x1


class Unavailable(ToolError):
    """No private network namespace could be made: e2e does not run without one."""


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _fail(what: str) -> Unavailable:
    err = ctypes.get_errno()
    return Unavailable(f"e2e runs its control plane in a private network namespace, and {what} failed "
                       f"({os.strerror(err) if err else 'unknown error'}); it needs CAP_SYS_ADMIN: run it as root, "
                       "or inside `unshare -r -n` once the tools are built. It does not run unisolated.")


def _loopback_up() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sH22x", b"lo", 0)
        flags = struct.unpack("16sH22x", fcntl.ioctl(sock, _SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(sock, _SIOCSIFFLAGS, struct.pack("16sH22x", b"lo", flags | _IFF_UP))


def interfaces() -> list[str]:
    """The network interfaces the calling thread sees."""
    return [name for _, name in socket.if_nameindex()]


def check() -> None:
    """Unavailable (exit 2) now, when no private network namespace can be made: e2e asks before it spends
    minutes building and rendering. A throwaway thread makes one; it is gone when the thread ends."""
    failure: list[Unavailable] = []

    def probe() -> None:
        try:
            with isolated():
                pass
        except Unavailable as exc:
            failure.append(exc)

    thread = threading.Thread(target=probe, name="netns-probe")
    thread.start()
    thread.join()
    if failure:
        raise failure[0]


@contextmanager
def isolated() -> Iterator[None]:
    """Run the block (this thread, and the threads and processes it starts) in a new network namespace with
    only `lo`, up; Unavailable (exit 2) when one cannot be made."""
    if not hasattr(os, "O_CLOEXEC") or not os.path.exists("/proc/thread-self/ns/net"):
        raise Unavailable("e2e runs its control plane in a private network namespace, which needs Linux")
    libc = _libc()
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        if libc.unshare(CLONE_NEWNET) != 0:
            raise _fail("unshare(CLONE_NEWNET)")
        try:
            try:
                _loopback_up()
            except OSError as exc:
                raise Unavailable(f"the private network namespace's lo could not be brought up: {exc}") from None
            found = interfaces()
            if found != ["lo"]:
                raise Unavailable(f"the private network namespace has interfaces {', '.join(found)}, not only lo")
            yield
        finally:
            if libc.setns(home, CLONE_NEWNET) != 0:  # pragma: no cover - the namespace we came from is still open
                raise _fail("returning to the original network namespace")
    finally:
        os.close(home)
