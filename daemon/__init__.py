"""mictld: the supervisor daemon of mictl."""

__version__ = "0.1.0"
