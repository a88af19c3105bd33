"""The policy registry: every rule the validator runs, in the order it reports them.

Add a policy by writing one module in this folder that defines POLICY, then list it here.
`nox -s validate -- --list-policies` and the README's policy table are made from this list.
"""
from __future__ import annotations

from gitops.policy import Policy

from . import duplicate_object

REGISTRY: tuple[Policy, ...] = (
    duplicate_object.POLICY,
)
