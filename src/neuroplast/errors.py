"""Exceptions raised for user errors; the CLI turns them into one-line messages."""


class NeuroplastError(ValueError):
    """A request neuroplast cannot carry out; the message says what to do instead."""

