"""Errors the CLI reports as one line on stderr, with an exit code (2: bad input)."""

from __future__ import annotations


class RuntimeCliError(Exception):
    """A failure the user can act on: the message says what, why and how to fix it."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def bad_input(message: str) -> RuntimeCliError:
    """Bad arguments or a bad service definition: exit code 2, nothing changed."""
    return RuntimeCliError(message, exit_code=2)
