"""Training: the loop (:class:`Trainer`), its parts, the run folder, and the job behind ``robustreid train``.

Using a trained model (loading, embedding, evaluating, exporting) is
:mod:`robustreid.inference`; the config schema is :mod:`robustreid.config`.
"""

from robustreid.engine.builder import build_trainer
from robustreid.engine.observers import EpochObserver, Evaluation, GroundTruthDiagnostics, RunPictures
from robustreid.engine.run import train_and_report
from robustreid.engine.run_dir import RunDir
from robustreid.engine.trainer import Trainer, TrainImages

__all__ = [
    "EpochObserver",
    "Evaluation",
    "GroundTruthDiagnostics",
    "RunDir",
    "RunPictures",
    "TrainImages",
    "Trainer",
    "build_trainer",
    "train_and_report",
]
