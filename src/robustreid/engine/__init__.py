"""Training and inference: the loop (:class:`Trainer`), its parts, the run folder and the config."""

from robustreid.engine.builder import build_trainer
from robustreid.engine.config import TrainConfig, load_config
from robustreid.engine.inference import evaluate_model, extract_features
from robustreid.engine.observers import EpochObserver, Evaluation, GroundTruthDiagnostics, RunPictures
from robustreid.engine.run import train_and_report
from robustreid.engine.run_dir import Preprocessing, RunDir, TrainedModel, load_model
from robustreid.engine.trainer import Trainer, TrainImages

__all__ = [
    "EpochObserver",
    "Evaluation",
    "GroundTruthDiagnostics",
    "Preprocessing",
    "RunDir",
    "RunPictures",
    "TrainConfig",
    "TrainImages",
    "TrainedModel",
    "Trainer",
    "build_trainer",
    "evaluate_model",
    "extract_features",
    "load_config",
    "load_model",
    "train_and_report",
]
