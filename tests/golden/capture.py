"""Golden outputs: what the command line prints and writes, scenario by scenario, byte for byte.

`python tests/golden/capture.py [SCENARIO...]` runs every scenario through the command line of this
checkout (`python -m gitops ...`, `python -m gitops.fleetgen ...`) and writes what it produced under
tests/golden/data/<scenario>/. tests/acceptance/test_golden.py runs the same scenarios with the code
under test and compares. Only what legitimately varies between runs is normalised (see normalised()).
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Callable

PROJECT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).resolve().parent / "data"
SHARED_CRDS = PROJECT.parent / "shared" / "crds"
FORMATS = ("text", "json", "sarif", "junit", "github", "markdown")
DIFF_FORMATS = ("text", "markdown", "json")
# The repository's sources as validate reads them (no tooling: a tooling file would be a rule change).
SOURCES = ("base", "components", "overlays", "clusters", "bootstrap", "inventory.yaml", "crds.lock.yaml", "schemas",
           "policies/config.yaml", "policies/waivers.yaml")
FLEET_CLUSTERS, FLEET_SERVICES, SHARDS = 50, 20, 4
TIMEOUT = 900
# Fixed author, committer and dates: every scenario's commits are the same on every run.
GIT_ENV = {"GIT_AUTHOR_NAME": "golden", "GIT_AUTHOR_EMAIL": "golden@example.com", "GIT_COMMITTER_NAME": "golden",
           "GIT_COMMITTER_EMAIL": "golden@example.com", "GIT_AUTHOR_DATE": "2026-01-01T00:00:00Z",
           "GIT_COMMITTER_DATE": "2026-01-01T00:00:00Z", "GIT_CONFIG_GLOBAL": os.devnull,
           "GIT_CONFIG_NOSYSTEM": "1"}


def environment(tool: Path) -> dict[str, str]:
    """The command line's environment: the tooling of `tool`, the project's pinned tools and cache, the CRD
    mirror; nothing of a CI runner's (GITHUB_*) or a terminal's (NO_COLOR, FORCE_COLOR) that changes output."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "GITOPS_")) and k not in
           ("NO_COLOR", "FORCE_COLOR", "PYTHONPATH")}
    env["PYTHONPATH"] = os.pathsep.join([str(tool / "scripts"), str(tool)])
    env["GITOPS_TOOLS_DIR"] = os.environ.get("GITOPS_TOOLS_DIR", str(PROJECT / ".tools" / "bin"))
    env["GITOPS_CACHE_DIR"] = os.environ.get("GITOPS_CACHE_DIR", str(PROJECT / ".cache"))
    mirror = os.environ.get("GITOPS_CRD_MIRROR") or (str(SHARED_CRDS) if SHARED_CRDS.is_dir() else "")
    if mirror:
        env["GITOPS_CRD_MIRROR"] = mirror
    return {**env, **GIT_ENV}


@dataclass
class Session:
    """One scenario's run: its temporary folder, the outputs so far (name -> bytes), the exit codes."""

    tool: Path
    tmp: Path
    outputs: dict[str, bytes] = field(default_factory=dict)
    exits: list[str] = field(default_factory=list)
    commits: dict[str, str] = field(default_factory=dict)  # commit id -> its placeholder
    dates: dict[str, str] = field(default_factory=dict)  # a date relative to today -> its placeholder

    def run(self, name: str | None, root: Path, *args: str, extra: dict[str, str] | None = None,
            stderr: bool = True, codes: tuple[int, ...] = (0, 1)) -> subprocess.CompletedProcess[bytes]:
        """`python -m gitops --root ROOT ARGS` (ARGS[0] == "-m": a module of its own); its stdout (and stderr when
        `stderr`) recorded as `name`, its exit code in exit-codes.txt."""
        cmd = [sys.executable, *args] if args[0] == "-m" and args[1] != "gitops" else \
            [sys.executable, "-m", "gitops", "--root", str(root), *args]
        env = {**environment(self.tool), **(extra or {})}
        done = subprocess.run(cmd, cwd=self.tmp, env=env, capture_output=True, timeout=TIMEOUT)
        if done.returncode not in codes:
            raise SystemExit(f"golden: {' '.join(cmd)} exited {done.returncode}:\n{done.stderr.decode()[-4000:]}")
        if name is not None:
            self.outputs[f"{name}.out"] = done.stdout
            if stderr and done.stderr:
                self.outputs[f"{name}.err"] = done.stderr
            self.exits.append(f"{name} {done.returncode}")
        return done

    def git(self, root: Path, *args: str) -> str:
        done = subprocess.run(["git", *args], cwd=root, env={**environment(self.tool)}, capture_output=True,
                              text=True, timeout=TIMEOUT, check=True)
        return done.stdout.strip()

    def commit(self, root: Path, label: str, message: str) -> None:
        self.git(root, "add", "-A")
        self.git(root, "commit", "-q", "-m", message)
        self.commits[self.git(root, "rev-parse", "HEAD")] = f"<commit:{label}>"

    def record(self, name: str, data: bytes) -> None:
        self.outputs[name] = data

    def result(self) -> dict[str, bytes]:
        """Every output normalised, plus exit-codes.txt."""
        out = {name: normalised(data, self) for name, data in self.outputs.items()}
        out["exit-codes.txt"] = ("\n".join(self.exits) + "\n").encode()
        return out


def normalised(data: bytes, session: Session) -> bytes:
    """What legitimately varies: the temporary folder (any spelling of it), the commits a scenario made (their
    id, and its 12-character short form; they depend on nothing but the fixed dates above) and the dates a
    scenario writes relative to today (a waiver's expiry: waivers last at most 90 days)."""
    tmp = str(session.tmp)
    for spelling in {tmp, os.path.realpath(tmp)}:
        data = data.replace(spelling.encode(), b"<tmp>")
    for commit, label in session.commits.items():
        data = data.replace(commit.encode(), label.encode()).replace(commit[:12].encode(), label.encode())
    for day, label in session.dates.items():
        data = data.replace(day.encode(), label.encode())
    return data


def tree_hashes(root: Path, *tops: str) -> bytes:
    """`sha256  path` of every file under `tops`: what render wrote, in one comparable text."""
    lines = []
    for top in tops:
        for path in sorted((root / top).rglob("*")):
            if path.is_file():
                lines.append(f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {path.relative_to(root).as_posix()}")
    return ("\n".join(lines) + "\n").encode()


def _copy_repository(root: Path) -> None:
    for name in SOURCES:
        src = PROJECT / name
        if src.is_dir():
            shutil.copytree(src, root / name)
        elif src.is_file():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, root / name)


def _replace(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    if text.count(old) != 1:
        raise SystemExit(f"golden: {old!r} occurs {text.count(old)} times in {path}")
    path.write_text(text.replace(old, new), encoding="utf-8")


def _init(s: Session, root: Path, label: str) -> None:
    s.git(root, "init", "-q", "-b", "main")
    s.commit(root, label, "sources")


# --- scenarios ------------------------------------------------------------------------------------

def repository(s: Session) -> None:
    """The repository itself (2 clusters): validate in every format, the rule list, a broken base port, and a
    change of the rules (configuration and a waiver) reported first."""
    root = s.tmp / "repo"
    _copy_repository(root)
    _init(s, root, "repository")
    for fmt in FORMATS:
        s.run(f"validate-clean.{fmt}", root, "validate", "--format", fmt)
    s.run("list-policies.text", root, "validate", "--list-policies")
    s.run("list-policies.markdown", root, "validate", "--list-policies", "--format", "markdown")
    _replace(root / "base/producer/service.yaml", "      port: 8080\n", "      port: 9090\n")
    s.run("render-broken", root, "render")
    for fmt in FORMATS:
        summary = s.tmp / f"summary-{fmt}.md"
        s.run(f"validate-broken.{fmt}", root, "validate", "--format", fmt,
              extra={"GITHUB_STEP_SUMMARY": str(summary)} if fmt == "github" else None)
        if fmt == "github":
            s.record("validate-broken.github-summary.md", summary.read_bytes())
    _replace(root / "policies/config.yaml", "disabled: []\nparameters: {}\nrules: {}\n",
             "disabled: [mcs-fleet-size]\nparameters: {}\nrules:\n  probes-set:\n    severity: notice\n")
    expires = (date.today() + timedelta(days=30)).isoformat()
    s.dates[expires] = "<today+30>"
    (root / "policies/waivers.yaml").write_text(
        "- rule: mcs-clusterset-url-resolves\n  target:\n    cluster: cluster-1\n"
        f"  reason: The producer moves to port 9090; callers follow in TICKET-1.\n  expires: {expires}\n",
        encoding="utf-8")
    for fmt in FORMATS:
        s.run(f"validate-rules-changed.{fmt}", root, "validate", "--format", fmt)


def fleet(s: Session) -> None:
    """A generated fleet of 50 clusters: render (stdout and the written tree), validate clean and with one
    broken base port (every format from one run), diff between the two commits, and 4 shards merged."""
    root = s.tmp / "fleet"
    s.run("fleetgen", root, "-m", "gitops.fleetgen", str(root), "--clusters", str(FLEET_CLUSTERS),
          "--services", str(FLEET_SERVICES))
    s.run("render-clean", root, "render")
    s.record("render-clean.tree", tree_hashes(root, "clusters", "bootstrap"))
    _init(s, root, "clean")
    s.run("render-again", root, "render")
    out = s.tmp / "out"
    out.mkdir()

    def validate(name: str) -> None:
        extra = [arg for fmt in FORMATS[1:] for arg in ("--output", f"{fmt}={out / f'{name}.{fmt}'}")]
        s.run(f"{name}.text", root, "validate", "--format", "text", *extra)
        for fmt in FORMATS[1:]:
            s.record(f"{name}.{fmt}.out", (out / f"{name}.{fmt}").read_bytes())

    validate("validate-clean")
    # The first catalogue service's base port: callers in many clusters use it.
    _replace(root / "base/orders/service.yaml", "      port: 8080\n", "      port: 9090\n")
    s.run("render-broken", root, "render")
    s.record("render-broken.tree", tree_hashes(root, "clusters", "bootstrap"))
    validate("validate-broken")
    for k in range(1, SHARDS + 1):
        s.run(None, root, "validate", "--shard", f"{k}/{SHARDS}", "--output-file", str(out / f"partial-{k}.json"))
    partials = [str(out / f"partial-{k}.json") for k in range(1, SHARDS + 1)]
    s.run("merge.text", root, "merge", *partials)
    s.run("merge.json", root, "merge", *partials, "--format", "json")
    s.commit(root, "broken", "break a base port")
    for fmt in DIFF_FORMATS:
        s.run(f"diff.{fmt}", root, "diff", "--base", "HEAD~1", "--format", fmt)
    s.run("diff-parts", root, "diff", "--base", "HEAD~1", "--format", "markdown", "--max-comment-chars", "6000",
          "--output-file", str(out / "diff.md"))
    for part in sorted(out.glob("diff.md*")):
        s.record(f"diff-parts.{part.name}", part.read_bytes())


def e2e(s: Session) -> None:
    """The repository applied to real control planes (slow: builds nothing, starts etcd and kube-apiserver)."""
    root = s.tmp / "repo"
    _copy_repository(root)
    for fmt in ("text", "json"):
        s.run(f"e2e.{fmt}", root, "e2e", "--format", fmt, stderr=False)  # stderr: per-cluster timings


SCENARIOS: dict[str, Callable[[Session], None]] = {"repository": repository, "fleet": fleet, "e2e": e2e}
SLOW = ("repository", "fleet", "e2e")  # tests/acceptance/test_golden.py marks these slow (each runs the command line a dozen times)


def produce(name: str, tool: Path = PROJECT) -> dict[str, bytes]:
    """Run scenario `name` with the tooling of `tool`; {file name: normalised bytes}."""
    with tempfile.TemporaryDirectory(prefix=f"golden-{name}-") as tmp:
        session = Session(tool, Path(tmp))
        SCENARIOS[name](session)
        return session.result()


COMPRESS_FROM = 64 * 1024  # larger outputs are stored gzipped (with no timestamp: the same bytes every capture)


def stored(name: str) -> dict[str, bytes]:
    """The stored outputs of scenario `name`, as produce() returns them (gzipped files unpacked)."""
    out = {}
    for path in sorted((DATA / name).iterdir()):
        if path.name.endswith(".gz"):
            out[path.name.removesuffix(".gz")] = gzip.decompress(path.read_bytes())
        elif path.is_file():
            out[path.name] = path.read_bytes()
    return out


def store(name: str, outputs: dict[str, bytes]) -> Path:
    folder = DATA / name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for file, data in outputs.items():
        if len(data) >= COMPRESS_FROM:
            (folder / f"{file}.gz").write_bytes(gzip.compress(data, 9, mtime=0))
        else:
            (folder / file).write_bytes(data)
    return folder


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenarios", nargs="*", metavar="SCENARIO", help=f"some of: {', '.join(SCENARIOS)} (default: all)")
    parser.add_argument("--tool", type=Path, default=PROJECT, help="checkout whose tooling produces them")
    args = parser.parse_args(argv)
    unknown = [n for n in args.scenarios if n not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario(s) {', '.join(unknown)}")
    for name in args.scenarios or SCENARIOS:
        outputs = produce(name, args.tool.resolve())
        folder = store(name, outputs)
        print(f"{name}: {len(outputs)} files in {folder.relative_to(PROJECT)}")


if __name__ == "__main__":
    main()
