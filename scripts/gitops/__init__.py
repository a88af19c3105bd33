"""Tooling that renders and validates the GitOps repository across clusters."""
