"""Errors that reach the user as one clear line (no traceback)."""


class UserError(Exception):
    """A problem the user can fix: a bad path, a corrupt input file, a missing dependency.

    The message names the file (or option) and the problem.
    """
