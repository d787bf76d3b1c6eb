"""The one error type the command line maps to exit code 2 (bad usage or unusable input)."""


class UsageError(ValueError):
    """Bad usage or unusable input: a pipeline file, a work directory, a manifest, a link list.

    The message names the input; the command line prints it and exits 2.
    """
