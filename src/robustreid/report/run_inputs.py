"""What a run folder holds to redraw its pictures: the resolved config, hence the data set, the model and
the clustering settings the run used."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from robustreid.clustering import cluster_pseudo_labels
from robustreid.config import TrainConfig, load_config
from robustreid.data import ReidDataset
from robustreid.engine.builder import build_dataset
from robustreid.engine.run_dir import RunDir
from robustreid.errors import CheckpointError, ConfigError, DataError

RANKS_PNG = "ranks.png"
CLUSTERS_PNG = "clusters.png"
TSNE_PNG = "tsne.png"
REPORT_HTML = "report.html"


class RunInputs:
    """A finished (or running) training run's folder, read for pictures: never written except for them."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.run = RunDir(path)
        if not (self.run / RunDir.CONFIG).is_file():
            raise DataError(
                f"{self.run.path} is not a run folder (no {RunDir.CONFIG}); give the output_dir of `robustreid train`"
            )
        self.config: TrainConfig = load_config(self.run / RunDir.CONFIG)

    @property
    def model_file(self) -> Path:
        """The best model, or the last checkpoint of a run that has not evaluated yet."""
        for name in (RunDir.BEST_MODEL, RunDir.CHECKPOINT):
            if (self.run / name).is_file():
                return self.run / name
        raise CheckpointError(
            f"{self.run.path} holds no {RunDir.BEST_MODEL} or {RunDir.CHECKPOINT}: the run has not finished an epoch"
        )

    def dataset(self) -> ReidDataset:
        return build_dataset(self.config.data)

    def pseudo_labels(self, features: np.ndarray) -> np.ndarray:
        """These features clustered with the run's ``cluster.*`` settings (numbers, camera-blind).

        ``auto`` settings and a camera penalty depend on the features and cameras of the whole
        training set, which a picture's sample does not reproduce.
        """
        c = self.config.cluster
        settings = {"eps": c.eps, "min_samples": c.min_samples, "k1": c.k1, "k2": c.k2}
        derived = [key for key, value in settings.items() if isinstance(value, str)]
        derived += ["camera_penalty"] if c.camera_penalty != 0 else []
        if derived:
            raise ConfigError(
                f"{self.run / RunDir.CONFIG} sets cluster.{', cluster.'.join(derived)}, which a picture's "
                "sample cannot reproduce: set fixed numbers (the log reports the derived ones) and "
                "cluster.camera_penalty 0 in that file"
            )
        return cluster_pseudo_labels(features, **settings, method=c.method)
