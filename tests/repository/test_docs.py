"""The README and docs/: every relative link leads to a file of the repository, and every #anchor to a heading
of the file it names (GitHub's anchors), so moving a section or a file cannot leave a dead link behind."""
from __future__ import annotations

import re
from pathlib import Path

from conftest import PROJECT

_FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.M | re.S)
_CODE = re.compile(r"(`+)(?:(?!\1).)+?\1")
_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$", re.M)


def documents() -> list[Path]:
    return [PROJECT / "README.md", *sorted((PROJECT / "docs").glob("*.md"))]


def _prose(text: str) -> str:
    """The text without fenced code blocks and code spans, where brackets are not links."""
    return _CODE.sub("", _FENCE.sub("", text))


def anchors(text: str) -> set[str]:
    """GitHub's heading anchors: the heading's text (code spans and emphasis as their text, links as their label),
    lower-case, without punctuation but '-' and '_', spaces as '-'; a repeated anchor gets -1, -2, ..."""
    seen: dict[str, int] = {}
    out = set()
    for match in _HEADING.finditer(_FENCE.sub("", text)):
        title = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", match.group(2))
        slug = re.sub(r"[^\w\- ]", "", title.replace("`", "").lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        out.add(slug if count == 0 else f"{slug}-{count}")
    return out


def broken_links(doc: Path, root: Path) -> list[str]:
    """Every relative link of `doc` whose file is missing (or outside `root`) or whose #anchor is no heading there."""
    text = doc.read_text(encoding="utf-8")
    broken = []
    for match in _LINK.finditer(_prose(text)):
        target = match.group(1)
        if re.match(r"[a-z][a-z0-9+.-]*:", target, re.I):  # https:, mailto:: not this repository's
            continue
        path, _, anchor = target.partition("#")
        file = (doc.parent / path).resolve() if path else doc
        rel = file.relative_to(root).as_posix() if file.is_relative_to(root) else None
        if rel is None or not file.exists():
            broken.append(f"{doc.name}: {target} (no such file in the repository)")
        elif anchor and (file.suffix != ".md" or anchor not in anchors(file.read_text(encoding="utf-8"))):
            broken.append(f"{doc.name}: {target} (no heading #{anchor} in {rel})")
    return broken


def test_every_relative_link_leads_to_a_file_and_heading() -> None:
    docs = documents()
    assert len(docs) > 1, "docs/ holds no Markdown"
    broken = [line for doc in docs for line in broken_links(doc, PROJECT.resolve())]
    assert not broken, "\n".join(broken)


def test_the_checker_finds_a_missing_file_and_a_missing_heading(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("# A title\n\n## Exit codes (`gitops`)\n\n## Exit codes (`gitops`)\n")
    readme = tmp_path / "README.md"
    readme.write_text("[ok](docs/a.md#exit-codes-gitops-1) [ok](#top) [web](https://example.com/x.md)\n"
                      "`[code](missing.md)`\n```\n[fenced](missing.md)\n```\n\n# Top\n"
                      "[gone](docs/b.md) [no heading](docs/a.md#exit-codes-2) [out](../outside.md)\n")
    assert broken_links(readme, tmp_path) == [
        "README.md: docs/b.md (no such file in the repository)",
        "README.md: docs/a.md#exit-codes-2 (no heading #exit-codes-2 in docs/a.md)",
        "README.md: ../outside.md (no such file in the repository)",
    ]


def test_the_readme_names_no_module_of_the_tooling() -> None:
    """The README is for users; module paths move with the code and belong in docs/."""
    readme = (PROJECT / "README.md").read_text(encoding="utf-8")
    assert not re.findall(r"scripts/gitops/\w+\.py|policies/_?\w+\.py", readme)
