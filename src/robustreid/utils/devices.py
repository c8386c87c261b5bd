"""The names a config may give a device and a precision, checked without importing torch where possible.

Checking a config reports a mistake before any work; it stays quick only if it does not
wait for torch's import (seconds). Resolving the names into torch's objects is
:mod:`robustreid.utils.runtime`'s.
"""

from __future__ import annotations

import re

#: ``runtime.inference_dtype``: auto = bf16 on CUDA, fp32 on the CPU.
INFERENCE_DTYPES = ("auto", "fp32", "bf16")
#: The device names the config documents, all of which torch reads.
DOCUMENTED_DEVICES = re.compile(r"auto|cpu|cuda(:(0|[1-9][0-9]*))?")


def is_device_name(name: str) -> bool:
    """``auto`` or a name torch reads as a device (``cpu``, ``cuda``, ``cuda:1``, ``mps``), whether present or not.

    The documented names are recognised without torch. Any other name (another
    accelerator's, or a mistake) is left to torch's parser, the one list of every device
    type, and only then is torch imported.
    """
    if DOCUMENTED_DEVICES.fullmatch(name):
        return True
    import torch

    try:
        return isinstance(torch.device(name), torch.device)
    except RuntimeError:
        return False
