"""Errors of the readers."""
from pipeline.errors import ShortshipError


class NotAnExport(ShortshipError):
    """The file is not an export: empty, header only, no recognisable header, binary, in an
    unknown encoding, or unreadable. Found in a folder it is skipped with a warning; named on
    the command line it is an error (one line, like any ShortshipError)."""
