"""Cause first, through the command line: a generated fleet of 50 clusters, one changed base port (8080 -> 8081).

Every report leads with the changed line, once, and counts the broken calls as the findings count them (one per
calling object and cluster), never as caller x exporting-cluster edges; the per-cluster findings fold under it.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "golden"))
from capture import environment  # noqa: E402  (the command line's environment: tools, cache, CRD mirror, git)

pytestmark = pytest.mark.slow  # a fleet of 50 clusters

PROJECT = Path(__file__).resolve().parents[2]
CLUSTERS, SERVICES = 50, 20
CHANGED = "base/orders/service.yaml"
CALL_RULES = ("mcs-clusterset-url-resolves", "mcs-local-name-not-served", "mcs-clusterset-name-form")
SCREEN = 40  # lines a reviewer sees before scrolling


def _gitops(root: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-m", "gitops", "--root", str(root), *args], cwd=root, text=True,
                          capture_output=True, timeout=900, env={**environment(PROJECT), **(env or {})})
    assert done.returncode in (0, 1), done.stderr[-4000:]
    assert "Traceback" not in done.stderr
    return done


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, env=environment(PROJECT), check=True, capture_output=True, timeout=120)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fleet committed clean, then its first service's base port changed 8080 -> 8081, rendered and committed."""
    root = tmp_path_factory.mktemp("causes") / "fleet"
    done = subprocess.run([sys.executable, "-m", "gitops.fleetgen", str(root), "--clusters", str(CLUSTERS),
                           "--services", str(SERVICES)], capture_output=True, text=True, timeout=600,
                          env=environment(PROJECT))
    assert done.returncode == 0, done.stderr
    assert _gitops(root, "render").returncode == 0
    _git(root, "init", "-q", "-b", "main")
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "clean")
    service = root / CHANGED
    text = service.read_text()
    assert text.count("      port: 8080\n") == 1
    service.write_text(text.replace("      port: 8080\n", "      port: 8081\n"))
    _gitops(root, "render")
    _git(root, "commit", "-q", "-am", "break a base port")
    return root


@pytest.fixture(scope="module")
def validated(fleet: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """One validate run against the clean commit: every format, and the job summary."""
    out = tmp_path_factory.mktemp("reports")
    summary = out / "summary.md"
    done = _gitops(fleet, "validate", "--base", "HEAD~1", "--format", "text",
                   *(a for fmt in ("markdown", "json", "sarif", "github") for a in ("--output", f"{fmt}={out / fmt}")),
                   env={"GITHUB_STEP_SUMMARY": str(summary)})
    assert done.returncode == 1
    reports = {fmt: (out / fmt).read_text() for fmt in ("markdown", "json", "sarif", "github")}
    return {"text": done.stdout, "summary": summary.read_text(), **reports}


def _line(fleet: Path) -> int:
    return next(i for i, line in enumerate((fleet / CHANGED).read_text().splitlines(), 1) if "port: 8081" in line)


def _calls(validated: dict[str, str]) -> int:
    """The broken calls as the findings count them: one per calling object and cluster."""
    findings = json.loads(validated["json"])["findings"]
    return sum(f["rule"] in CALL_RULES and not f.get("waived") for f in findings)


def test_the_changed_line_leads_every_report_once(fleet: Path, validated: dict[str, str]) -> None:
    at = f"{CHANGED}:{_line(fleet)}"
    calls = _calls(validated)
    assert 30 < calls < 200  # dozens of calls, not callers x exporting clusters
    breaks = re.compile(rf"port 8080 → 8081 breaks {calls} calls\b.*in (\d+) clusters")
    for fmt in ("markdown", "summary"):
        head = validated[fmt].splitlines()[:5]
        assert any(at in line and breaks.search(line) for line in head), (fmt, head)
        assert validated[fmt].count(f"`{at}` — port 8080 → 8081") == 1, fmt
        # One screen before the first fold: no 25 identical rows before the findings are folded.
        before = validated[fmt].split("<details>", 1)[0]
        assert len(before.splitlines()) <= SCREEN, before
    text = validated["text"].splitlines()
    assert text[1].startswith("causes in the change since HEAD~1") and "1 changed line causes" in text[1]
    assert text[2].startswith(f"{at}:") and breaks.search(text[2]), text[:3]
    assert sum(line.startswith(f"{at}:") for line in text) == 1
    # Under it, each broken call once (its calling object and cluster), not once per exporting cluster.
    rows = [line for line in text[3:] if " error mcs-clusterset-url-resolves: " in line]
    assert len(rows) == len(set(rows)) == calls


def test_github_annotates_the_changed_line_first(fleet: Path, validated: dict[str, str]) -> None:
    first = validated["github"].splitlines()[0]
    assert first.startswith(f"::error file={CHANGED},line={_line(fleet)},")
    assert f"breaks {_calls(validated)} calls" in first
    assert sum(f"file={CHANGED},line={_line(fleet)}," in line for line in validated["github"].splitlines()) == 1


def test_sarif_marks_the_caused_results(fleet: Path, validated: dict[str, str]) -> None:
    run = json.loads(validated["sarif"])["runs"][0]
    [cause] = run["properties"]["causes"]
    assert (cause["path"], cause["line"], cause["change"]) == (CHANGED, _line(fleet), "port 8080 → 8081")
    assert cause["calls"] == _calls(validated) and len(cause["clusters"]) > 1
    first = run["results"][0]
    assert first["properties"]["causedBy"]["path"] == CHANGED and first["rank"] == 100.0
    caused = [r for r in run["results"] if "causedBy" in r.get("properties", {})]
    assert run["results"][:len(caused)] == caused  # the caused results come first


def test_diff_leads_with_the_cause_and_counts_calls(fleet: Path, validated: dict[str, str]) -> None:
    at = f"{CHANGED}:{_line(fleet)}"
    calls = _calls(validated)
    markdown = _gitops(fleet, "diff", "--base", "HEAD~1", "--format", "markdown").stdout
    head = markdown.splitlines()
    assert any(at in line and f"breaks {calls} calls" in line for line in head[:5]), head[:8]
    before = markdown.split("<details>", 1)[0]
    assert len(before.splitlines()) <= SCREEN, before
    # Identical clusters collapse into one row ("same in N of 50 clusters"), never a row per cluster.
    assert re.search(r"\| same in \d+ of 50 clusters", markdown)
    assert not re.search(r"^\| cluster-\d+ \| 0 \| 0 \| ", markdown, re.M)
    # The call graph counts calls: as many broken as the findings count, however many clusters export them.
    graph = re.search(r"### Call graph across clusters \(([\d,]+) calls: (.*)\)", markdown)
    assert graph is not None and f"{calls} broken" in graph[2], graph
    drawn = [int(n) for n in re.findall(r"\|(\d+) broken\|", markdown)]
    assert sum(drawn) == calls or (not drawn and "broken|" in markdown)
    text = _gitops(fleet, "diff", "--base", "HEAD~1", "--format", "text").stdout
    assert f"{at}:" in text and f"breaks {calls} calls" in text
    assert re.search(rf"call graph across clusters: [\d,]+ calls: {calls} broken", text)
    doc = json.loads(_gitops(fleet, "diff", "--base", "HEAD~1", "--format", "json").stdout)
    [cause] = doc["causes"]
    assert (cause["path"], cause["calls"]) == (CHANGED, calls)
