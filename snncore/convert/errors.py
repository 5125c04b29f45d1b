"""The converter's exception."""

__all__ = ["ConversionError"]


class ConversionError(ValueError):
    """A model that snncore cannot convert; the message names the node (its
    name, op and source line) and what to change."""
