"""The exception types the CLI turns into a one-line `Error:` message."""


class ShortshipError(Exception):
    """A problem the user can fix (bad file, bad option, locked database).

    The message is one line and names the file or setting concerned.
    """


class Interrupted(ShortshipError):
    """Ctrl-C or SIGTERM ended a command; the message says what state it left behind."""
