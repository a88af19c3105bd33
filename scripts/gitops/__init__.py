"""Tooling that renders and validates the GitOps repository across clusters."""
__version__ = "0.1.0"
