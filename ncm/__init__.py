"""ncm: the backend of a music-streaming service."""

__version__ = "0.1.0"
