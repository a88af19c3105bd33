"""`gitops diff`'s output choices, kept apart from diff/formats.py: every command builds the whole command line,
and importing diffreport (and the diff machinery with it) only to list three names cost every warm
validate ~20 ms."""
from __future__ import annotations

FORMATS = ("text", "markdown", "json")
DEFAULT_MAX_CHARS = 65536  # GitHub's limit on a pull-request comment
