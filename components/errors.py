"""The errors a user can fix: bad input, an unreachable teacher or ChEMBL. Scripts report these as
one line naming the file and line (or the URL) and exit with status 1; anything else is a bug and
keeps its traceback."""


class UserError(Exception):
    """A problem with what the user gave or pointed at; the message says where."""
