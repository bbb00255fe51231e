"""The one error type for bad user input.

Every check on user input (arguments, data folders, configuration) raises :class:`PixelwiseError`
with one sentence that names the file or value and says how to fix it. It subclasses ``ValueError`` so
that library users can catch it the usual way; the command line turns it into one line and exit code 2.
"""


class PixelwiseError(ValueError):
    """Bad input from the user: the message names the file or value and states the fix."""


class DataError(PixelwiseError):
    """A data folder or file that cannot be used as it is."""


class NonFiniteLossError(PixelwiseError):
    """Training produced a NaN or infinite loss; the last good checkpoint is kept."""
