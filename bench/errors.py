"""The error a user's bad input raises: one line, exit code 2, on every rank."""


class UsageError(Exception):
    """Bad input. The message names the bad value, what is accepted and what to do."""

    exit_code = 2
