"""The hostile-input corpus (tests/badinput/*.yaml): every case is data, run by the one test below.

Each case edits a private git clone of this repository, runs one command in-process, and asserts the
exit code; that the message names the file (and line); no traceback and no "failed unexpectedly";
nothing written outside clusters/, bootstrap/ and the named output file (nothing at all on exit 2);
no temporary files left; and a wall-clock bound (a hang guard, not a speed test).
"""
from __future__ import annotations

import contextlib
import io
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

from conftest import PROJECT, SOURCES, copy_sources
from gitops import cli

pytestmark = pytest.mark.slow  # the whole hostile and careless corpus through the command line

CORPUS = Path(__file__).parent
BOUND_S = 60  # per case: a hang guard
ALLOWED = ("clusters/", "bootstrap/")
TEMP_MARKS = (".gitops-", ".tmp", ".render-", "gitops-build-", "gitops-schema-", "gitops-diff-")
STATS: dict[str, int] = {"cases": 0, "file_line": 0, "file_only": 0, "tracebacks": 0, "writes_outside": 0,
                         "hangs": 0, "temp_left": 0}


def _cases() -> list[Any]:
    out = []
    for file in sorted(CORPUS.glob("*.yaml")):
        for case in yaml.safe_load(file.read_text(encoding="utf-8")):
            out.append(pytest.param(case, id=case["id"]))
    return out


class _Hang(Exception):
    pass


@contextlib.contextmanager
def _bound(seconds: int) -> Iterator[None]:
    def alarm(signum: int, frame: Any) -> None:
        raise _Hang(f"case still running after {seconds} s")

    old = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-C", str(root), *args],
                          check=True, capture_output=True, text=True).stdout


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repository's sources with clusters/ and bootstrap/ as committed, in a git repository of its own."""
    root = copy_sources(tmp_path_factory.mktemp("badinput-template") / "repo", (*SOURCES, "clusters", "bootstrap"))
    _git(root, "init", "-q", "-b", "main")
    _git(root, "add", "-A")
    _git(root, "commit", "-qm", "template")
    return root


def _outside(parent: Path) -> Path:
    """What a hostile pull request points at beside the clone: a key, and an overlay."""
    out = parent / "outside"
    (out / "secret").mkdir(parents=True)
    (out / "secret" / "key.txt").write_text("PRIVATE KEY\n")
    (out / "secret" / "kustomization.yaml").write_text(
        "configMapGenerator:\n  - name: stolen\n    files:\n      - key.txt\n")
    (out / "ov").mkdir()
    (out / "ov" / "kustomization.yaml").write_text("resources:\n  - ../secret\n")
    (out / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: stolen\ndata:\n  k: v\n")
    return out


def _fill(value: str, ctx: dict[str, str]) -> str:
    for key, repl in ctx.items():
        value = value.replace("{" + key + "}", repl)
    return value


def _apply(root: Path, op: dict[str, Any], ctx: dict[str, str]) -> None:
    kind, args = next(iter(op.items()))
    if kind == "edit":
        rel, old, new = args
        path = root / rel
        text = path.read_text(encoding="utf-8")
        assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times in {rel}"
        path.write_text(text.replace(old, _fill(new, ctx)), encoding="utf-8")
    elif kind in ("write", "append", "latin1", "exec"):  # exec: an executable file (a script posing as a tool)
        rel, text = args
        path = root / _fill(rel, ctx)
        path.parent.mkdir(parents=True, exist_ok=True)
        data = _fill(text, ctx).encode("latin-1" if kind == "latin1" else "utf-8")
        with open(path, "ab" if kind == "append" else "wb") as fh:
            fh.write(data)
        if kind == "exec":
            path.chmod(0o755)
    elif kind == "objects":  # N ConfigMaps, one document each, in one file
        rel, count = args
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(f"---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c{i}\n"
                                for i in range(count)))
    elif kind == "doubling":  # levels of kustomizations, each building two name-prefixed copies of the one below
        rel, levels = args
        folder = root / rel
        (folder / "0").mkdir(parents=True)
        (folder / "0" / "kustomization.yaml").write_text("namespace: istio-apps\nresources:\n  - configmap.yaml\n")
        (folder / "0" / "configmap.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n")
        for level in range(1, levels + 1):
            for half in ("a", "b"):
                (folder / str(level) / half).mkdir(parents=True)
                (folder / str(level) / half / "kustomization.yaml").write_text(
                    f"namePrefix: {half}-\nresources:\n  - ../../{level - 1}\n")
            (folder / str(level) / "kustomization.yaml").write_text("resources:\n  - a\n  - b\n")
    elif kind == "run":  # a command run before the one under test (a warm cache, say); its outcome is not checked
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            cli.main(["--root", str(root), *(_fill(a, ctx) for a in args)])
    elif kind == "big":  # a ConfigMap (or any file) of about N bytes
        rel, size = args
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        head = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: big\ndata:\n  blob: "
        with open(path, "wb") as fh:
            fh.write(head)
            chunk = b"x" * (1 << 20)
            left = size - len(head)
            while left > 0:
                fh.write(chunk[:left])
                left -= len(chunk)
            fh.write(b"\n")
    elif kind == "fill":  # head + chunk * count + tail: one large value of a chosen shape
        rel, head, chunk, count, tail = args
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(head.encode() + chunk.encode() * count + tail.encode())
    elif kind == "symlink":
        rel, target = args
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        os.symlink(_fill(target, ctx), root / rel)
    elif kind == "fifo":
        os.mkfifo(_fill(args, ctx))
    elif kind == "null-device":  # a character device like /dev/null (1, 3), made where the test owns it
        os.mknod(_fill(args, ctx), 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    elif kind == "remove":
        path = root / args
        shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
    elif kind == "git":  # a git command in the clone (a branch renamed, say)
        _git(root, *args)
    elif kind == "commit":
        _git(root, "add", "-A")
        _git(root, "commit", "-qm", args)
    elif kind == "nested":  # JSON arrays nested `depth` deep
        rel, depth = args
        (root / rel).write_text("[" * depth + "]" * depth)
    elif kind == "fifo":
        os.mkfifo(Path(_fill(args, ctx)))
    elif kind == "gitops":  # a command whose output the case then uses (a partial result, say)
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            assert cli.main(["--root", str(root), *(_fill(a, ctx) for a in args)]) in (0, 1)
    else:
        raise AssertionError(f"unknown corpus operation {kind!r}")


def _listing(top: Path) -> dict[str, tuple[str, int, int]]:
    """Every entry under `top` (not .git's internals): kind, size and mtime, to see any write."""
    out = {}
    for folder, dirs, files in os.walk(top):
        dirs[:] = [d for d in dirs if not (folder == str(top / "repo") and d == ".git")]
        for name in dirs + files:
            path = Path(folder, name)
            st = path.lstat()
            kind = "link" if path.is_symlink() else "dir" if path.is_dir() else "file"
            out[path.relative_to(top).as_posix()] = (kind, st.st_size if kind == "file" else 0,
                                                      st.st_mtime_ns if kind == "file" else 0)
    return out


def _line(root: Path, rel: str, snippet: str) -> int:
    text = (root / rel).read_text(encoding="utf-8", errors="replace")
    assert text.count(snippet) == 1, f"{snippet!r} occurs {text.count(snippet)} times in {rel}"
    return text[:text.index(snippet) + len(snippet.rstrip("\n"))].count("\n") + 1


@pytest.mark.parametrize("case", _cases())
def test_bad_input(case: dict[str, Any], template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    parent = tmp_path / "case"
    parent.mkdir()
    root = parent / "repo"
    shutil.copytree(template, root, symlinks=True)
    scratch = tmp_path / "scratch"  # TMPDIR of the run: must be empty afterwards
    scratch.mkdir()
    ctx = {"root": str(root), "parent": str(parent), "outside": str(_outside(parent)), "scratch": str(scratch),
           "home": str(tmp_path / "home"),  # a user's own folders ($XDG_CACHE_HOME, say): outside the case's folder
           # waiver expiry dates: within the default longest lifetime (90 days), and just past it
           "soon": (date.today() + timedelta(days=30)).isoformat(),
           "late": (date.today() + timedelta(days=91)).isoformat()}
    for name, value in case.get("env", {}).items():  # for setup's `run` and the command alike
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, _fill(value, ctx))
    for op in case.get("setup", []):
        _apply(root, op, ctx)
    argv = ["--root", str(root), *(_fill(a, ctx) for a in case["command"])]
    outputs = [Path(_fill(p, ctx)) for p in case.get("outputs", [])]
    before, status_before = _listing(parent), _git(root, "status", "--porcelain", "--ignored")

    out, err = io.StringIO(), io.StringIO()
    old_tmp, old_env = tempfile.tempdir, os.environ.get("TMPDIR")
    tempfile.tempdir, os.environ["TMPDIR"] = str(scratch), str(scratch)
    start = time.monotonic()
    try:
        with _bound(BOUND_S), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli.main(argv)
    except _Hang:
        STATS["hangs"] += 1
        raise
    finally:
        elapsed = time.monotonic() - start
        tempfile.tempdir = old_tmp
        if old_env is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = old_env
    text = out.getvalue() + err.getvalue()
    STATS["cases"] += 1

    if "Traceback" in text or "failed unexpectedly" in text:
        STATS["tracebacks"] += 1
    after, status_after = _listing(parent), _git(root, "status", "--porcelain", "--ignored")
    changed = sorted(p for p in set(before) | set(after) if before.get(p) != after.get(p))
    allowed = [] if case["exit"] == 2 else [*(f"repo/{a}" for a in ALLOWED), "repo/clusters", "repo/bootstrap"]
    allowed_outputs = {str(p.relative_to(parent)) for p in outputs if p.is_relative_to(parent)}
    outside = [p for p in changed if not any(p == a.rstrip("/") or p.startswith(a) for a in allowed)
               and p not in allowed_outputs]
    if status_after != status_before and case["exit"] == 2:
        outside.append("git status changed")
    if outside:
        STATS["writes_outside"] += 1
    left = [p for p in after if any(m in p.rsplit("/", 1)[-1] for m in TEMP_MARKS)] + \
        [p.name for p in scratch.iterdir()]
    if left:
        STATS["temp_left"] += 1

    expect_file = case.get("file")
    expect_line = case.get("line")
    if "line_of" in case:
        expect_line = _line(root, expect_file, case["line_of"])
    if expect_file and expect_line:
        named = f"{expect_file}:{expect_line}" in text
        STATS["file_line"] += named
    elif expect_file:
        named = expect_file in text
        STATS["file_only"] += named
    else:
        named = True

    assert code == case["exit"], text
    assert "Traceback" not in text and "failed unexpectedly" not in text, text
    assert named, f"expected {expect_file}:{expect_line or ''} in:\n{text}"
    if "once" in case:
        assert err.getvalue().count(case["once"]) == 1, text
    for snippet in case.get("says", []):
        assert _fill(snippet, ctx) in text, text
    assert not outside, f"written outside the allowed folders: {outside}"
    assert not left, f"temporary files left: {left}"
    assert elapsed < BOUND_S
    for rel, snippets in case.get("contains", {}).items():  # what a file holds afterwards, in this order
        held = Path(_fill(rel, ctx)).read_text(encoding="utf-8")
        assert [held.find(_fill(x, ctx)) for x in snippets] == sorted(held.find(_fill(x, ctx)) for x in snippets) \
            and all(_fill(x, ctx) in held for x in snippets), held[:2000]
    for path in case.get("devices", []):  # still the character device it was, not a file put in its place
        assert stat.S_ISCHR(os.lstat(_fill(path, ctx)).st_mode), path
    for forbidden in case.get("never", []):  # content that must not reach the output or the rendered tree
        rendered = "".join(p.read_text(errors="replace") for p in (root / "clusters").rglob("*")
                           if p.is_file() and not p.is_symlink())
        assert forbidden not in text and forbidden not in rendered


def test_dev_null_is_never_replaced(template: Path, tmp_path: Path) -> None:
    """`--output-file /dev/null` as root (issue 19, item 10), tried where a regression cannot hurt: the CLI runs
    in a private mount namespace whose /dev is a fresh tmpfs holding its own null device, so the machine's
    /dev/null is never at stake; the one in there must still be a character device afterwards."""
    root = tmp_path / "repo"
    shutil.copytree(template, root, symlinks=True)
    script = (f"set -e; mount -t tmpfs tmpfs /dev; for d in null:1:3 zero:1:5 random:1:8 urandom:1:9; do "
              f"IFS=: read n a b <<EOF\n$d\nEOF\nmknod -m 666 /dev/$n c $a $b; done; "
              f"set +e; {sys.executable} -m gitops --root {root} validate --output-file /dev/null; code=$?; "
              f"stat -c %F /dev/null; exit $code")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(PROJECT / "scripts"), str(PROJECT)])}
    done = subprocess.run(["unshare", "--mount", "--propagation", "private", "bash", "-c", script],
                          capture_output=True, text=True, env=env, timeout=BOUND_S)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "refusing to write /dev/null: it is a character device; nothing was written" in done.stderr
    assert done.stdout.strip().splitlines()[-1] == "character special file", done.stdout
