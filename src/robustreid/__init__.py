"""robustreid: unsupervised person re-identification by robust cluster contrast."""

from robustreid.utils.lazy import lazy_exports

__version__ = "0.1.0"

#: Names importable from the top level, loaded on first use so that ``import robustreid`` stays light.
__all__, __getattr__, __dir__ = lazy_exports(
    __name__, {"robustreid.inference.extractor": ["FeatureExtractor"]}
)
__all__.append("__version__")
