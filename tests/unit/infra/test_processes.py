"""Every child dies with the run: a SIGKILLed run takes its children with it (PR_SET_PDEATHSIG), and a cancelled
run (SIGTERM, SIGINT, `timeout`) stops every process it started and removes its temporary folders, exit 2. And
the ceilings a child runs under (CPU time)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import PROJECT, edit
from gitops.infra import proc

ENV = {"PYTHONPATH": os.pathsep.join([str(PROJECT / "scripts"), str(PROJECT)])}


def _alive(pid: int) -> bool:
    """The process exists and is not a zombie (a zombie has ended; only its exit status is left)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _marked(marker: str) -> list[int]:
    """Live processes whose environment holds `marker` (every process a run starts inherits its TMPDIR)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and entry.name != str(os.getpid()):
            try:
                environ = (entry / "environ").read_bytes()
            except OSError:
                continue
            if marker.encode() in environ.split(b"\0") and _alive(int(entry.name)):
                found.append(int(entry.name))
    return found


def _wait(condition, seconds: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def test_a_child_dies_when_the_run_is_killed(tmp_path: Path) -> None:
    """SIGKILL runs no handler: only the kernel's parent-death signal stops what the run started."""
    script = ("import sys, time; from gitops.infra import proc\n"
              "with open(sys.argv[1], 'w') as sink:\n"
              "    started = proc.start(['sleep', '120'], what='sleeper', timeout=300, stdout=sink)\n"
              "print(started.popen.pid, flush=True); time.sleep(120)\n")
    run = subprocess.Popen([sys.executable, "-c", script, str(tmp_path / "out")], stdout=subprocess.PIPE, text=True,
                           env={**os.environ, **ENV})
    assert run.stdout is not None
    child = int(run.stdout.readline())
    assert _alive(child)
    run.kill()
    run.wait()
    assert _wait(lambda: not _alive(child), 10), "the child outlived the run"


def test_a_child_started_in_a_worker_thread_dies_with_the_run() -> None:
    """The CLI builds start kustomize from pool threads: the signal follows the thread, which lives as long as the run."""
    script = ("import time; from concurrent.futures import ThreadPoolExecutor; from gitops.infra import proc\n"
              "pool = ThreadPoolExecutor(1)\n"
              "future = pool.submit(proc.run, ['sh', '-c', 'echo $$; exec sleep 120'], what='s', timeout=300)\n"
              "time.sleep(120)\n")
    run = subprocess.Popen([sys.executable, "-c", script], env={**os.environ, **ENV})
    try:
        assert _wait(lambda: any("sleep" in Path(f"/proc/{p}/cmdline").read_text(errors="replace")
                                 for p in _children(run.pid)), 20)
        sleepers = _children(run.pid)
    finally:
        run.kill()
        run.wait()
    assert _wait(lambda: not any(_alive(p) for p in sleepers), 10), "the child outlived the run"


def _building(pid: int) -> bool:
    """The process is kbuild at work (`kbuild -j N`; not `go version -m .../kbuild` or `kbuild -version`)."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return argv[0].endswith(b"/kbuild") and b"-j" in argv


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if ppid == pid:
                out.append(int(entry.name))
    return out


@pytest.fixture
def busy(repo: Path) -> Path:
    """A repository whose cluster-2 keeps kustomize busy for minutes: 20,000 ConfigMaps, every limit raised."""
    (repo / "overlays/cluster-2/many.yaml").write_text(
        "".join(f"---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c{i}\n" for i in range(20_000)))
    edit(repo, "overlays/cluster-2/kustomization.yaml", "  - ../../base/producer\n",
         "  - ../../base/producer\n  - many.yaml\n")
    return repo


@pytest.mark.slow
@pytest.mark.parametrize("how", ["SIGTERM", "SIGINT", "timeout"])
def test_a_cancelled_run_leaves_no_process_and_no_temporary_folder(busy: Path, tmp_path: Path, how: str) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    env = {**os.environ, **ENV, "TMPDIR": str(scratch), "GITOPS_MAX_OBJECTS_PER_OVERLAY": "100000",
           "GITOPS_KUSTOMIZE_CPU_SECONDS": "900", "GITOPS_KUSTOMIZE_TIMEOUT": "900"}
    cmd = [sys.executable, "-m", "gitops", "--root", str(busy), "validate", "--no-cache"]
    marker = f"TMPDIR={scratch}"
    if how == "timeout":
        cmd = ["timeout", "-s", "TERM", "20", *cmd]
    run = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # kbuild at work, and the temporary folder of the bootstrap objects' kubeconform run in place
        assert _wait(lambda: any(_building(p) for p in _marked(marker)), 120)
        assert any(scratch.iterdir())
        if how != "timeout":
            run.send_signal(getattr(signal, how))
        started = time.monotonic()
        _, err = run.communicate(timeout=60)
        stopped = time.monotonic() - started
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode == (124 if how == "timeout" else 2), err
    assert "Traceback" not in err
    if how != "timeout":
        assert "error: interrupted: every process it started was stopped" in err
        assert stopped < 10
    assert _wait(lambda: not _marked(marker), 10), f"left running: {_marked(marker)}"
    assert sorted(p.name for p in scratch.iterdir()) == []


def test_cpu_ceiling_applies_to_the_child() -> None:
    code = "import resource; print(resource.getrlimit(resource.RLIMIT_CPU))"
    done = proc.run([sys.executable, "-c", code], what="python", timeout=30, cpu_seconds=7)
    assert done.stdout.strip() == "(7, 8)"


def test_a_child_past_its_cpu_ceiling_is_stopped() -> None:
    done = proc.run([sys.executable, "-c", "while True: pass"], what="spinner", timeout=60, cpu_seconds=1)
    assert proc.out_of_cpu(done.returncode)


def test_a_cancelled_run_starts_nothing_more() -> None:
    proc.stop_all()
    try:
        with pytest.raises(KeyboardInterrupt):
            proc.run(["true"], what="true", timeout=10)
    finally:
        proc._STOPPING.clear()
