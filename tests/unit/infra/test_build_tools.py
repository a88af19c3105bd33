"""scripts/heartbeat.py, used by scripts/build_tools.py (the first step of `nox -s tests`, all of `nox -s tools`)
and by the test session around pytest: never silent for long."""
from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "scripts"))
from heartbeat import heartbeat  # noqa: E402


def test_a_long_build_says_every_interval_that_it_is_still_building(capsys: pytest.CaptureFixture[str]) -> None:
    with heartbeat("etcd v0", time.monotonic(), every=0.05):
        time.sleep(0.4)
    said = capsys.readouterr().out
    assert said.count("etcd v0: still building (") >= 3, said
    time.sleep(0.2)  # and nothing once the build is over
    assert capsys.readouterr().out == ""


def test_a_quick_build_says_nothing_more() -> None:
    start = time.monotonic()
    with heartbeat("kustomize v0", start, every=5):
        pass
    assert time.monotonic() - start < 1  # the heartbeat ends with the build, not at its next beat
