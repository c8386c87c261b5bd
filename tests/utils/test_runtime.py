"""Devices, precision, seeding, RNG capture and atomic writes: what makes a run fast, repeatable and resumable."""

from __future__ import annotations

import random
import signal

import numpy as np
import pytest
import torch

from robustreid.errors import ConfigError, DeviceError
from robustreid.utils import runtime
from robustreid.utils.devices import is_device_name
from robustreid.utils.runtime import (
    atomic_torch_save,
    atomic_write,
    atomic_write_text,
    autocast,
    require_writable_folder,
    resolve_device,
    resolve_inference_dtype,
    rng_state,
    seed_everything,
    set_rng_state,
    training_dtype,
)

CPU = torch.device("cpu")


@pytest.mark.parametrize(
    "name, valid",
    [
        ("auto", True),
        ("cpu", True),
        ("cuda", True),
        ("cuda:0", True),
        ("cuda:12", True),
        ("cpu:0", True),
        ("mps", True),
        ("gpu", False),
        ("cuda:01", False),
        ("cuda:", False),
        ("CUDA", False),
        ("cuda:1 ", False),
    ],
)
def test_device_names_are_those_torch_reads(name, valid):
    """The documented names are recognised without torch, every other name by torch itself: the same answers."""
    assert is_device_name(name) is valid


def test_devices_resolve_or_say_why_not(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == CPU == resolve_device("cpu")
    with pytest.raises(DeviceError, match="CUDA is not available"):
        resolve_device("cuda")
    with pytest.raises(ConfigError, match="unknown device 'gpu'"):
        resolve_device("gpu")


def test_inference_precision_is_bf16_only_where_it_is_native(monkeypatch):
    assert resolve_inference_dtype("auto", CPU) == torch.float32 == resolve_inference_dtype("fp32", CPU)
    assert resolve_inference_dtype("auto", torch.device("cuda")) == torch.bfloat16
    monkeypatch.setattr(runtime, "cpu_has_native_bf16", lambda: False)
    assert resolve_inference_dtype("bf16", CPU) == torch.float32  # emulated bf16 would be slower
    monkeypatch.setattr(runtime, "cpu_has_native_bf16", lambda: True)
    assert resolve_inference_dtype("bf16", CPU) == torch.bfloat16
    with pytest.raises(ConfigError, match="unknown runtime.inference_dtype 'fp16'"):
        resolve_inference_dtype("fp16", CPU)


def test_training_precision_and_autocast():
    assert training_dtype(CPU) == torch.float32 and training_dtype(torch.device("cuda")) == torch.bfloat16
    ones = torch.ones(2, 2)
    with autocast(CPU, torch.float32):
        assert (ones @ ones).dtype == torch.float32
    with autocast(CPU, torch.bfloat16):
        assert (ones @ ones).dtype == torch.bfloat16


def _draws() -> tuple[float, float, float]:
    return random.random(), float(np.random.rand()), float(torch.rand(1))


def test_seeding_repeats_every_rng():
    seed_everything(7)
    first = _draws()
    seed_everything(7)
    assert _draws() == first


def test_a_captured_rng_state_survives_a_weights_only_checkpoint(tmp_path):
    """What --resume relies on: the draws after a restore are the draws that would have come."""
    seed_everything(3)
    np.random.randn()  # a cached Gaussian is part of numpy's state too
    atomic_torch_save(rng_state(), tmp_path / "rng.pt")
    expected = _draws()
    seed_everything(99)
    set_rng_state(torch.load(tmp_path / "rng.pt", weights_only=True))
    assert _draws() == expected


def test_a_writable_folder_is_created_and_an_unwritable_one_named(tmp_path):
    assert require_writable_folder(tmp_path / "a" / "b", "--out").is_dir()
    (tmp_path / "file").write_text("")
    with pytest.raises(ConfigError, match="--out: cannot write into"):
        require_writable_folder(tmp_path / "file" / "sub", "--out")


def test_an_atomic_write_interrupted_keeps_the_previous_file_and_no_leftover(tmp_path):
    path = tmp_path / "state.json"
    atomic_write_text(path, "old")

    def dies_halfway(handle) -> None:
        handle.write(b"new, half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(path, dies_halfway)
    assert path.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]
    atomic_write_text(path, "new")
    assert path.read_text() == "new"


def test_a_ctrl_c_during_an_atomic_write_waits_until_the_whole_file_is_in_place(tmp_path):
    path = tmp_path / "checkpoint.pth"

    def interrupted_halfway(handle) -> None:
        handle.write(b"first half, ")
        signal.raise_signal(signal.SIGINT)  # Python's own handler would raise KeyboardInterrupt here
        handle.write(b"second half")

    with pytest.raises(KeyboardInterrupt):
        atomic_write(path, interrupted_halfway)
    assert path.read_bytes() == b"first half, second half" and len(list(tmp_path.iterdir())) == 1
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the handler is back


def test_torch_save_interrupted_by_sigterm_leaves_a_loadable_checkpoint(tmp_path):
    path = tmp_path / "checkpoint.pth"

    def stop(signum, frame):
        raise KeyboardInterrupt

    class StopsWhilePickled:
        def __reduce__(self):
            signal.raise_signal(signal.SIGTERM)
            return (dict, ({"epoch": 3},))

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        with pytest.raises(KeyboardInterrupt):  # not torch's RuntimeError from a half-closed archive
            atomic_torch_save({"state": StopsWhilePickled(), "weights": torch.ones(1000)}, path)
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert torch.load(path, weights_only=False)["state"] == {"epoch": 3}
