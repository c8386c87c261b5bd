"""Device choice, inference precision, seeding and RNG capture: what makes a run fast, repeatable and resumable."""

from __future__ import annotations

import logging
import os
import random
import signal
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from functools import cache
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import torch

from robustreid.errors import ConfigError, DeviceError
from robustreid.utils.devices import INFERENCE_DTYPES, is_device_name


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA when present, else the CPU."""
    if not is_device_name(name):
        raise ConfigError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise DeviceError(
            f"device {name!r} requested but CUDA is not available on this machine; use device=cpu"
        )
    return device


log = logging.getLogger("robustreid")


@cache
def cpu_has_native_bf16() -> bool:
    """True on CPUs with bf16 instructions (AVX-512 BF16 or AMX), where bf16 inference is ~2x faster."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return any(flag in flags.split() for flag in ("avx512_bf16", "amx_bf16"))


def resolve_inference_dtype(name: str, device: torch.device) -> torch.dtype:
    """``auto``: bf16 on CUDA, fp32 on the CPU; ``fp32`` as given; ``bf16`` where the device has it.

    On the CPU bf16 is an opt-in: on a CPU with native bf16 it extracts ~2x faster with the
    same mAP, but its features differ enough (cosine 0.992-1.0 to fp32's) to change the
    pseudo-labels (ARI 0.82 on ImageNet Market-1501 features; benchmarks/bf16_inference.py).
    A CPU without native bf16 would only emulate it, slower than fp32, so it gets fp32.
    """
    if name not in INFERENCE_DTYPES:
        raise ConfigError(f"unknown runtime.inference_dtype {name!r}; use {', '.join(INFERENCE_DTYPES)}")
    if name == "fp32" or (name == "auto" and device.type == "cpu"):
        return torch.float32
    if device.type == "cpu" and not cpu_has_native_bf16():
        log.warning("runtime.inference_dtype bf16: this CPU has no native bf16; extracting in fp32")
        return torch.float32
    return torch.bfloat16


def training_dtype(device: torch.device) -> torch.dtype:
    """bf16 on CUDA; fp32 on the CPU, where bf16 training measured slower (benchmarks/cpu_throughput.py)."""
    return torch.bfloat16 if device.type == "cuda" else torch.float32


def autocast(device: torch.device, dtype: torch.dtype) -> AbstractContextManager:
    """Mixed precision in ``dtype`` on ``device`` (no loss scaling needed for bf16); a no-op for fp32."""
    return nullcontext() if dtype == torch.float32 else torch.autocast(device.type, dtype=dtype)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def rng_state() -> dict[str, Any]:
    """Every RNG's state as tensors and plain values, so a checkpoint loads with ``weights_only=True``."""
    version, mt_state, gauss = random.getstate()
    name, keys, pos, has_gauss, cached_gaussian = np.random.get_state()
    state = {
        "python": [version, list(mt_state), gauss],
        "numpy": [name, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached_gaussian],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    version, mt_state, gauss = state["python"]
    random.setstate((version, tuple(mt_state), gauss))
    name, keys, pos, has_gauss, cached_gaussian = state["numpy"]
    np.random.set_state((name, keys.cpu().numpy().astype(np.uint32), pos, has_gauss, cached_gaussian))
    # torch.load(map_location="cuda") moves these ByteTensors to the GPU; the setters need them on the CPU
    torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])


def require_writable_folder(folder: str | Path, option: str) -> Path:
    """Create ``folder`` and prove a file can be written in it, before any work is spent on output.

    A :class:`ConfigError` naming ``option`` (the setting that chose the folder)
    replaces the OSError a run would otherwise hit at its first save.
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=folder).close()
    except OSError as err:
        raise ConfigError(
            f"{option}: cannot write into {folder} ({err.strerror or err}); choose another location"
        ) from None
    return folder


#: The signals a user or a scheduler sends to stop a run politely (SIGKILL cannot be held).
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def signal_handler(signals: Sequence[int], handler: Callable[[int, Any], object]) -> Iterator[None]:
    """``handler`` for ``signals`` inside the block, the previous handlers back after it.

    Signal handlers belong to the main thread, and a handler set outside Python could not
    be put back; in either case nothing changes.
    """
    foreign_handler = any(signal.getsignal(sig) is None for sig in signals)
    if threading.current_thread() is not threading.main_thread() or foreign_handler:
        yield
        return
    previous = {sig: signal.signal(sig, handler) for sig in signals}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@contextmanager
def stop_signals_held() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM until the block ends, then deliver them.

    A stop raised inside a writer's cleanup is not always a clean stop: torch.save's
    zip writer turns a KeyboardInterrupt raised mid-write into a RuntimeError when it
    closes the archive, so the run would end with a traceback instead of its
    "interrupted" line.
    """
    received: list[int] = []
    try:
        with signal_handler(STOP_SIGNALS, lambda signum, frame: received.append(signum)):
            yield
    finally:
        for signum in received:
            signal.raise_signal(signum)


def atomic_write(path: str | Path, write: Callable[[BinaryIO], object]) -> None:
    """``write`` into a temporary file in the same folder, then rename: a kill never leaves half a file.

    The bytes are flushed to the disk before the rename, so that after a power cut
    the name holds either the old file or the whole new one, never an empty file.
    A polite stop (Ctrl-C, SIGTERM) waits until the file is in place
    (:func:`stop_signals_held`); only SIGKILL can cut a write short.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with stop_signals_held():
        _write_then_rename(path, write)


def _write_then_rename(path: Path, write: Callable[[BinaryIO], object]) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_torch_save(obj: Any, path: str | Path) -> None:
    """``torch.save`` through :func:`atomic_write`."""
    atomic_write(path, lambda f: torch.save(obj, f))


def atomic_write_text(path: str | Path, text: str) -> None:
    """A text file (UTF-8) through :func:`atomic_write`."""
    atomic_write(path, lambda f: f.write(text.encode()))
