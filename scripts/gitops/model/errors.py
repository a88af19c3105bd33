"""Errors that stop the pipeline: bad input, bad usage or a failing tool (exit code 2).

Each error names the file (and line where there is one) so that the message alone says
what to edit; the CLI prints it without a traceback.
"""
from __future__ import annotations

from dataclasses import dataclass

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_ERROR = 2


@dataclass
class GitopsError(Exception):
    message: str
    file: str | None = None
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        where = ""
        if self.file:
            where = self.file
            if self.line:
                where += f":{self.line}"
                if self.column:
                    where += f":{self.column}"
            where += ": "
        return f"{where}{self.message}"


class InputError(GitopsError):
    """The repository's content is malformed: YAML, kustomizations, inventory, lock file."""


class ToolError(GitopsError):
    """A pinned tool could not be installed or failed in a way the input does not explain."""


class UsageError(GitopsError):
    """The command line asks for something that cannot be done."""
