"""Backbones and the re-ID head: ``build_model(name)`` gives an image -> unit-norm embedding network.

:mod:`.config` and :mod:`.registry` say what a config's ``model.*`` may be without
importing torch; the package's names are imported when first used.
"""

from robustreid.utils.lazy import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "robustreid.models.config": ["ModelConfig"],
        "robustreid.models.efficientnet_lite": ["EfficientNetLite", "build_efficientnet_lite"],
        "robustreid.models.factory": [
            "backbone_names",
            "build_model",
            "build_model_from_config",
            "model_from_architecture",
        ],
        "robustreid.models.head": ["GeneralizedMeanPooling", "GlobalAveragePooling", "ReidModel", "bn_neck"],
        "robustreid.models.registry": ["BACKBONES", "POOLINGS", "BackboneFactory"],
        "robustreid.models.resnet": ["ResNetTrunk", "resnet50"],
    },
)
