"""Exceptions raised by snncore."""

__all__ = ["FormatError"]


class FormatError(ValueError):
    """A network file or network description is invalid.

    The message names the archive member, population or projection at fault
    and says what is wrong with it.
    """
