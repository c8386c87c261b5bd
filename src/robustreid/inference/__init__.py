"""Using a trained model: load it, embed images, evaluate it, export it; never the training code.

:func:`load_model` reads a model file, :func:`extract_features` embeds a data set,
:class:`FeatureExtractor` embeds images in any form, :func:`evaluate_model` scores a
model on a query/gallery split, and :mod:`robustreid.inference.export` writes ONNX or
TorchScript. ``search/`` and ``report/`` import only this package, so embedding a
gallery does not load the trainer, the memory or the distributed code. The names are
imported when first used, so that the command line reads :mod:`.defaults` without torch.
"""

from robustreid.utils.lazy import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "robustreid.inference.checkpoint": ["Preprocessing", "TrainedModel", "imagenet_model", "load_model"],
        "robustreid.inference.extractor": ["FeatureExtractor"],
        "robustreid.inference.features": [
            "evaluate_model",
            "evaluate_split",
            "extract_features",
            "labels_of",
        ],
    },
)
