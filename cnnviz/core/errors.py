"""The one base of every error a user can cause.

The window shows a UserError as a short banner and the CLI as one line with exit code 2;
anything else is a bug and is reported as such. Logic never inspects message text: a
caller that must react to a kind of error catches its type.
"""

from __future__ import annotations


class UserError(Exception):
    """Bad input from the user (an image, a weights file, a name, a spec): its message is
    meant for the user and is shown as-is, never as a traceback."""

    def __str__(self) -> str:
        # KeyError subclasses would otherwise repr() their message, quotes and all.
        return str(self.args[0]) if len(self.args) == 1 else super().__str__()


class UnknownLayerError(UserError, KeyError):
    """A layer name that the model has neither as a module nor as a join."""
