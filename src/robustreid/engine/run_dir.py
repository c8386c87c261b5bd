"""The run folder and the checkpoint format (being built)."""

from __future__ import annotations

import torch
from torch import nn

from robustreid.engine.inference import load_checkpoint_model


def load_model(path: str, device: torch.device | str = "cpu") -> nn.Module:
    return load_checkpoint_model(path, device)[0]
