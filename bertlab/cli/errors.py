"""The one error type of the command line."""


class CliError(Exception):
    """A user-facing error: printed as ``bertlab <command>: error: <message>``, exit status 2."""
