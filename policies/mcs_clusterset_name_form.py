"""Only two clusterset.local name forms exist; other forms, look-alikes and over-long names never resolve."""
from __future__ import annotations

from typing import Iterator

from gitops.model.findings import Severity
from gitops.model.objects import Objects
from gitops.model.rules import Policy, Settings, Violation

from gitops.model import calls as _resolve


def check(objects: Objects, settings: Settings) -> Iterator[Violation]:
    """Every name-form verdict of the resolver (`_resolve.verdicts`)."""
    yield from _resolve.broken(objects, _resolve.RULE_FORM, tuple(settings["addressKeys"]))


POLICY = Policy(
    id=_resolve.RULE_FORM,
    severity=Severity.ERROR,
    summary="clusterset.local names use a form MCS serves and respect DNS length limits.",
    rationale=f"MCS DNS serves {_resolve.FORMS}; <clusterid>.<svc>.<ns> and other forms, look-alikes such as "
              "<svc>.<ns>.clusterset.local or <svc>.<ns>.svc.clusterset, and names with a label over 63 or a "
              "total over 253 characters, get NXDOMAIN.",
    fix="Call <svc>.<ns>.svc.clusterset.local; address single pods only of headless exports; shorten long names.",
    check=check,
    scope="clusterset",
    parameters=(_resolve.ADDRESS_KEYS_PARAMETER,),
)
