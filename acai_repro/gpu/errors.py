"""The GPU window's errors (no torch here: the command line imports them at start)."""


class WindowError(RuntimeError):
    """Something a window needs is missing or wrong; raised before any work starts (exit status 2)."""


class UnpackError(RuntimeError):
    """A part or run of a window is missing or damaged; nothing of that run was placed (exit status 2)."""
