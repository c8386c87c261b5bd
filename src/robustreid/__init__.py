"""robustreid: unsupervised person re-identification by robust cluster contrast."""

__version__ = "0.1.0"
