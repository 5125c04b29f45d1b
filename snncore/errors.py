"""Exceptions raised by snncore."""

from . import _core

__all__ = ["FormatError"]


class FormatError(ValueError):
    """A network file or network description is invalid.

    The message names the archive member, population or projection at fault
    and says what is wrong with it.

    Attributes
    ----------
    status : int
        The C library's status code (``snn_status`` of snn.h): 11
        (``SNN_E_FORMAT``) for what a file reader refuses (the archive, the
        metadata's syntax and types), else the status of the network check
        (shape, value, graph, limit, ...).
    population, projection : int
        Index of the population or projection at fault, or -1.
    """

    FORMAT = _core.E_FORMAT     # SNN_E_FORMAT: refused by a reader

    def __init__(self, message, status=FORMAT, population=-1, projection=-1):
        super().__init__(message)
        self.status = status
        self.population = population
        self.projection = projection
