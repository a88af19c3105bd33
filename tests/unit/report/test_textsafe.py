"""What reaches a reader is safe to read (issue 19, items 11 and 12): control and bidi characters escaped,
credentials masked, values bounded, in every format, the diff outputs and merge's text; through the
functions and through the command line."""
from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from conftest import edit
from gitops import cli
from gitops.diff import compare as diff, formats as diffreport
from gitops.model import textsafe
from gitops.model.findings import Finding, ObjectRef, Related, Severity, SourceLocation
from gitops.model.rules import Rule
from gitops.report import FORMATS, ReportContext

SECRET = "hunter2"
# Everything a pull request can put in a value: ESC (terminal control), RLO and an isolate (bidi), a C1
# control, a carriage return, a workflow command after a newline, the runner's old command syntax, and
# credentials in a URL's userinfo, its query and a DSN.
HOSTILE = (f"calls http://admin:{SECRET}@db.example.com:5432/x?token={SECRET}&a=1 \x1b[2J\x1b]0;owned\x07 "
           f"evil\u202etxt.exe \u2066x\u2069 \x85 cr\rover\n::error file=a.yaml,line=1::forged ##[error]old-style "
           f"host=db password={SECRET} dbname=x")
INVISIBLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029\ufeff]")
RULE = Rule("mcs-clusterset-url-resolves", Severity.ERROR, "s", "r", "fix")


def _hostile_findings() -> list[Finding]:
    odd = ObjectRef("v1", "ConfigMap", "istio-apps", "cm\x1b[31m\u202e")
    return [Finding(RULE.id, Severity.ERROR, HOSTILE, cluster="cluster-1", obj=odd, fix=f"see {HOSTILE}",
                    location=SourceLocation("base/\x1b[31mx\u202e.yaml", 3, 1),
                    related=(Related(SourceLocation("base/\u202eother.yaml", 1), HOSTILE),),
                    extra={"value": HOSTILE}),
            Finding("resource-limits", Severity.WARNING, "waived one", cluster="cluster-2",
                    location=SourceLocation("base/y.yaml", 1))]


def _waived() -> list[Finding]:
    found = _hostile_findings()
    found[1].waive(f"ticket at https://bob:{SECRET}@tracker.example.com \x1b[1m\u202e")
    return found


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_every_format_escapes_masks_and_never_starts_a_workflow_command(fmt: str) -> None:
    ctx = ReportContext(rules=[RULE], clusters=["cluster-1", "cluster-2"])
    out = FORMATS[fmt](_waived(), ctx)
    assert SECRET not in out, out
    assert not INVISIBLE.search(out), repr(INVISIBLE.search(out))
    assert "##[" not in out
    lines = out.splitlines()
    if fmt == "github":  # every line is one of ours: a command whose data is %-escaped
        assert all(re.match(r"::(error|warning|notice) ", line) for line in lines), out
        assert "%0A\\::error file=a.yaml" in out or "%0A::error file=a.yaml" in out
    elif fmt in ("text", "markdown", "junit"):
        assert not [line for line in lines if line.lstrip().startswith("::")], out
    if fmt in ("json", "sarif"):
        json.loads(out)  # escapes are JSON's own: the document stays valid


def test_masking_covers_userinfo_query_and_dsn_and_keeps_the_rest() -> None:
    cases = {
        "postgres://app:s3cret@db:5432/x": "postgres://app:***@db:5432/x",
        "https://ghp_token123@github.com/org/repo.git": "https://***@github.com/org/repo.git",
        "https://h/x?sig=abc&se=2030&X-Amz-Signature=def": "https://h/x?sig=***&se=2030&X-Amz-Signature=***",
        "Server=db;User Id=sa;Password=p@ss;": "Server=db;User Id=sa;Password=***;",
        "host=db password=pw sslmode=require": "host=db password=*** sslmode=require",
        "API_KEY=k1 DB_PASSWORD=k2 max_tokens=5": "API_KEY=*** DB_PASSWORD=*** max_tokens=5",
        "http://sample-producer.istio-apps.svc.clusterset.local:8080": "http://sample-producer.istio-apps.svc.clusterset.local:8080",
    }
    assert {k: textsafe.mask(k) for k in cases} == cases


def test_one_value_is_bounded_with_its_length() -> None:
    url = "https://x.example.com/" + "a" * 1_500_000
    shown = textsafe.shown(f"calls {url} and more")
    assert len(shown) < 300 and "(1,500,022 characters)" in shown and shown.endswith(" and more")
    many = " ".join(["word"] * 5000)
    assert len(textsafe.shown(many)) < textsafe.MAX_TEXT + 100


def test_merge_text_with_a_newline_in_a_message_starts_no_command() -> None:
    """A partial's message is data; the text format (merge's default) keeps its lines indented and defused."""
    f = Finding("object-name", Severity.ERROR, "bad\n::error file=inventory.yaml,line=1::forged\n  ##[warning]x",
                cluster="cluster-1", location=SourceLocation("::notice::a.yaml", 1))
    out = FORMATS["text"]([f], ReportContext(clusters=["cluster-1"]))
    assert not [line for line in out.splitlines() if line.lstrip().startswith("::")], out
    assert "##[" not in out


def test_diff_lines_are_masked_bounded_and_escaped() -> None:
    old = "data:\n  URL: http://a:old@db/x\n"
    new = f"data:\n  URL: http://a:{SECRET}@db/x\n  BIG: {'b' * 1_500_000}\n  ODD: \x1b[31m\u202e\n"
    text = diff.unified("clusters/c/x.yaml", old, new)
    assert SECRET not in text and not INVISIBLE.search(text)
    assert len(text) < 2000 and "(1,500,000 characters)" in text


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
                   check=True, capture_output=True)


URL = "http://sample-producer.istio-apps.svc.clusterset.local:8080"


@pytest.mark.slow
def test_through_the_command_line_no_format_echoes_a_credential_or_a_control_character(
        repo: Path, tmp_path: Path, capsys, monkeypatch) -> None:
    """validate in every format (and the job summary), and diff in every format, over a change that puts a
    password, ESC, RLO and a 1.5 MB value into a URL the policies echo and a ConfigMap the diff shows."""
    assert cli.main(["--root", str(repo), "render"]) == 0
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "base")
    value = f"http://admin:{SECRET}@sample-producer.istio-apps.svc.clusterset.local:9999/{'p' * 1_500_000}"
    edit(repo, "overlays/cluster-1/producer-url.yaml", f"PRODUCER_URL: {URL}",
         f'PRODUCER_URL: "{value}\\e[2J\\u202e"')
    assert cli.main(["--root", str(repo), "render"]) == 0
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    capsys.readouterr()
    outputs = [f"{fmt}={tmp_path / ('report.' + fmt)}" for fmt in sorted(FORMATS) if fmt != "github"]
    code = cli.main(["--root", str(repo), "validate", "--no-cache", "--format", "github",
                     *(a for o in outputs for a in ("--output", o))])
    seen = {"github": capsys.readouterr().out, "summary": summary.read_text()}
    seen.update({p.name: p.read_text() for p in tmp_path.glob("report.*")})
    assert code == 1 and len(seen) == len(FORMATS) + 1, seen.keys()
    for name, out in seen.items():
        assert SECRET not in out and not INVISIBLE.search(out), name
        assert "mcs-clusterset-url-resolves" in out, name
        assert len(out) < 100_000, (name, len(out))  # the 1.5 MB value is an excerpt in every one
    for fmt in ("markdown", "text", "json"):
        code = cli.main(["--root", str(repo), "diff", "--base", "HEAD", "--format", fmt,
                         "--output-file", str(tmp_path / f"diff.{fmt}")])
        assert code == 1
        parts = sorted(tmp_path.glob(f"diff.{fmt}*"))
        assert len(parts) <= 2, parts  # not 70 comment parts
        for part in parts:
            text = part.read_text()
            assert SECRET not in text and not INVISIBLE.search(text), part
            assert "characters)" in text, part  # the value, cut, with its length


def test_diff_removes_its_own_earlier_parts_only(tmp_path: Path) -> None:
    out = tmp_path / "diff.md"
    mine = diffreport.part_path(out, 2)
    mine.write_text(diffreport.MARKER.format(i=2) + "\n_GitOps diff, part 2/2_\n")
    other = diffreport.part_path(out, 3)
    other.write_text("someone else's notes\n")
    assert diffreport.wrote(mine, 2) and not diffreport.wrote(other, 3)
    link = diffreport.part_path(out, 4)
    os.symlink(mine, link)
    assert not diffreport.wrote(link, 2)  # never through a link
