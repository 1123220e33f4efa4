"""Project-wide exception classes."""


class DataError(ValueError):
    """A data file is missing, corrupt or does not match what the loader expects."""


class DivergenceError(RuntimeError):
    """Training produced a NaN or infinite loss; the message names the first bad step and the kept checkpoint."""


class CheckpointError(RuntimeError):
    """A checkpoint file is corrupt, truncated, or does not match the objects it should restore."""
