"""The one base class of errors a user can cause (bad names, files, bits, shapes).

The CLI prints these as one line and exits non-zero; anything else is a bug and shows a
traceback.
"""


class HwflowError(ValueError):
    """A problem with the user's input; its message is one line saying what to change."""
