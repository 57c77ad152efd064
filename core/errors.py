"""Errors shared by the data modules (kept apart so the downloader and the loaders can both raise them)."""


class DataError(RuntimeError):
    """A data file is missing, truncated or not what it claims to be; the message says which and why."""
