"""Using a trained model: load it, embed images, evaluate it, export it; never the training code.

:func:`load_model` reads a model file, :func:`extract_features` embeds a data set,
:class:`FeatureExtractor` embeds images in any form, :func:`evaluate_model` scores a
model on a query/gallery split, and :mod:`robustreid.inference.export` writes ONNX or
TorchScript. ``search/`` and ``report/`` import only this package, so embedding a
gallery does not load the trainer, the memory or the distributed code.
"""

from robustreid.inference.checkpoint import Preprocessing, TrainedModel, imagenet_model, load_model
from robustreid.inference.extractor import FeatureExtractor
from robustreid.inference.features import evaluate_model, evaluate_split, extract_features, labels_of

__all__ = [
    "FeatureExtractor",
    "Preprocessing",
    "TrainedModel",
    "evaluate_model",
    "evaluate_split",
    "extract_features",
    "imagenet_model",
    "labels_of",
    "load_model",
]
