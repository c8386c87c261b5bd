"""The one error type for a user's mistakes.

Every mistake a user can make (a wrong config value, a missing data folder, a file
that is not a checkpoint, a device that is not there) raises a subclass of
:class:`RobustReidError` with a message that says what to do. The command line
catches exactly these, prints ``error: <message>`` on one line and exits 2; any
other exception is a bug and keeps its traceback. Each subclass is also the
built-in exception its case used to raise (``ValueError`` or ``RuntimeError``),
so code that catches those keeps working.
"""

from __future__ import annotations


class RobustReidError(Exception):
    """A user's mistake, with a message that says what to change."""


class ConfigError(RobustReidError, ValueError):
    """A config file, ``--set`` override or argument names an unknown key or has a bad value."""


class DataError(RobustReidError, ValueError):
    """A data root, image folder, image or label file is missing or laid out wrongly."""


class CheckpointError(RobustReidError, ValueError):
    """A checkpoint or weights file is missing, not ours, or does not fit the model."""


class DeviceError(RobustReidError, RuntimeError):
    """The requested device is not available on this machine."""


class TrainingDivergedError(RobustReidError, RuntimeError):
    """The loss became NaN or infinite; the checkpoint of the last complete epoch is left intact."""
