"""The command line's outputs are byte for byte the golden ones (tests/golden/README.md says how they were made).

Each scenario runs `python -m gitops ...` of this checkout in a temporary folder, exactly as
tests/golden/capture.py did when the goldens were captured, and every output file, the rendered tree's
hashes and every exit code must be equal."""
from __future__ import annotations

import difflib
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "golden"))
import capture  # noqa: E402


def _first_difference(name: str, want: bytes, got: bytes) -> str:
    """A short unified diff of the first lines that differ (a golden can be megabytes)."""
    lines = list(difflib.unified_diff(want.decode(errors="replace").splitlines(),
                                      got.decode(errors="replace").splitlines(), f"golden/{name}", f"now/{name}",
                                      lineterm="", n=2))
    return "\n".join(lines[:60])


@pytest.mark.parametrize("scenario", [pytest.param(name, marks=[pytest.mark.slow] if name in capture.SLOW else [])
                                      for name in capture.SCENARIOS])
def test_outputs_match_the_golden_ones(scenario: str) -> None:
    want = capture.stored(scenario)
    assert want, f"no golden outputs for {scenario}: run tests/golden/capture.py {scenario}"
    got = capture.produce(scenario)
    assert sorted(got) == sorted(want), "the outputs made differ from the golden ones' names"
    differ = [name for name in want if got[name] != want[name]]
    assert not differ, "\n\n".join(_first_difference(n, want[n], got[n]) for n in differ[:3]) + \
        f"\n\n{len(differ)} output(s) differ: {', '.join(differ)}"
