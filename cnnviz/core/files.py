"""What is wrong with a path a user gave, said before anything opens it."""

from __future__ import annotations

import errno
import os
import stat


def path_problem(path: str | os.PathLike[str], noun: str) -> str | None:
    """Why `path` is not a readable regular file (symlinks followed), or None if it is.

    Checked with stat, which never blocks: opening a FIFO waits for a writer, forever.
    `noun` names what was expected ("an image", "a weights file") in the message.
    """
    path = os.fspath(path)
    try:
        return mode_problem(os.stat(path).st_mode, noun)
    except OSError as exc:
        return os_error_problem(exc, path)


def mode_problem(mode: int, noun: str) -> str | None:
    """Why a file of this st_mode is not a regular file, or None if it is."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return f"is a folder, not {noun}"
    if stat.S_ISFIFO(mode):
        kind = "a named pipe (FIFO)"
    elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        kind = "a device"
    elif stat.S_ISSOCK(mode):
        kind = "a socket"
    else:
        kind = "a special file"
    return f"is {kind}, not {noun}"


def os_error_problem(exc: OSError, path: str) -> str:
    """A short reason for an OSError met while looking up or opening `path`."""
    if exc.errno == errno.ELOOP:
        return "symbolic link loop (the link leads back to itself)"
    if isinstance(exc, (FileNotFoundError, NotADirectoryError)):
        if os.path.islink(path):
            return "broken symbolic link (its target does not exist)"
        return "file not found"
    if isinstance(exc, PermissionError):
        return "permission denied"
    return f"cannot read the file ({exc.strerror or type(exc).__name__})"


def clip(text: str, limit: int = 60) -> str:
    """`text` on one printable line of at most `limit` characters, for messages."""
    text = text if text.isprintable() else repr(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"
