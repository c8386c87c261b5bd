"""CPU throughput of training and extraction for each speed setting (issue: faster CPU training).

Times the real work of an epoch on random images, so only speed is measured:

* extraction: the model in eval mode on batches of 256, fp32 or bf16 autocast;
* a training step: train transform (flip, pad + crop, erasing) on a P x K batch of
  preloaded uint8 images, forward, ClusterNCE against 700 prototypes (Market-1501's
  cluster count), backward, Adam, memory update, as ``Trainer.train_step`` does.

Each setting changes one thing against the protocol's fp32 baseline (Lite0 128x64,
batch 64, 2 threads): frozen early stages, bf16 training autocast, ``torch.compile``,
one thread, and smaller inputs. Writes benchmarks/results/cpu_throughput.json.

    python benchmarks/cpu_throughput.py
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_result  # noqa: E402
from robustreid.data.transforms import build_test_transform, build_train_transform  # noqa: E402
from robustreid.memory.cluster_memory import ClusterMemory  # noqa: E402
from robustreid.models import build_model  # noqa: E402
from robustreid.utils.runtime import autocast, cpu_has_native_bf16  # noqa: E402

CLUSTERS = 700
CPU = torch.device("cpu")


@dataclass(frozen=True)
class Setting:
    name: str
    height: int = 128
    width: int = 64
    batch: int = 64
    frozen_stages: int = 0
    bf16: bool = False
    compile: bool = False
    threads: int = 2


BASE = Setting("fp32")
TRAIN_SETTINGS = [
    BASE,
    replace(BASE, name="threads_1", threads=1),
    replace(BASE, name="frozen_2", frozen_stages=2),
    replace(BASE, name="frozen_3", frozen_stages=3),
    replace(BASE, name="frozen_4", frozen_stages=4),
    replace(BASE, name="frozen_5", frozen_stages=5),
    replace(BASE, name="bf16_autocast", bf16=True),
    replace(BASE, name="bf16_autocast_frozen_4", bf16=True, frozen_stages=4),
    replace(BASE, name="compile", compile=True),
    replace(BASE, name="compile_frozen_4", compile=True, frozen_stages=4),
    replace(BASE, name="batch_128_frozen_4", batch=128, frozen_stages=4),
    replace(BASE, name="96x48_frozen_4", height=96, width=48, frozen_stages=4),
    replace(BASE, name="64x32_frozen_4", height=64, width=32, frozen_stages=4),
]
EXTRACT_SETTINGS = [
    replace(BASE, name="fp32", batch=256),
    replace(BASE, name="bf16", batch=256, bf16=True),
    replace(BASE, name="96x48_bf16", batch=256, bf16=True, height=96, width=48),
    replace(BASE, name="64x32_bf16", batch=256, bf16=True, height=64, width=32),
]


def _model(s: Setting) -> torch.nn.Module:
    torch.manual_seed(0)
    model = build_model("efficientnet_lite0", frozen_stages=s.frozen_stages).to(
        memory_format=torch.channels_last
    )
    return torch.compile(model) if s.compile else model


def _images(s: Setting, n: int) -> torch.Tensor:
    return torch.randint(0, 256, (n, 3, s.height, s.width), dtype=torch.uint8)


def train_images_per_second(s: Setting, warmup: int, steps: int) -> float:
    """Images per second through the whole training step, after ``warmup`` untimed steps."""
    torch.set_num_threads(s.threads)
    model = _model(s).train()
    memory = ClusterMemory()
    memory.prototypes = torch.nn.functional.normalize(torch.randn(CLUSTERS, model_dim(model)), dim=1)
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=3.5e-4)
    transform = build_train_transform(s.height, s.width)
    pool = _images(s, 512)
    targets = torch.arange(s.batch) // 4 % CLUSTERS

    def step(i: int) -> None:
        picks = torch.randint(0, len(pool), (s.batch,))
        batch = torch.stack([transform(pool[j]) for j in picks]).contiguous(memory_format=torch.channels_last)
        with autocast(CPU, torch.bfloat16 if s.bf16 else torch.float32):
            embeddings = model(batch)
        loss = memory(embeddings.float(), targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        memory.update(embeddings, targets)

    return _rate(step, s.batch, warmup, steps)


def extract_images_per_second(s: Setting, warmup: int, steps: int) -> float:
    torch.set_num_threads(s.threads)
    model = _model(s).eval()
    batch = build_test_transform()(_images(s, s.batch)).contiguous(memory_format=torch.channels_last)

    @torch.no_grad()
    def step(i: int) -> None:
        with autocast(CPU, torch.bfloat16 if s.bf16 else torch.float32):
            model(batch)

    return _rate(step, s.batch, warmup, steps)


def model_dim(model: torch.nn.Module) -> int:
    return getattr(model, "_orig_mod", model).feature_dim


def _rate(step, batch: int, warmup: int, steps: int) -> float:
    for i in range(warmup):
        step(i)
    start = time.perf_counter()
    for i in range(steps):
        step(i)
    return round(batch * steps / (time.perf_counter() - start), 1)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=8, help="timed steps per setting")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--only", nargs="*", help="names of the settings to run (default: all)")
    args = parser.parse_args()
    start = time.perf_counter()

    def chosen(s):
        return not args.only or s.name in args.only

    train, extract = {}, {}
    for s in filter(chosen, TRAIN_SETTINGS):
        train[s.name] = {"img_s": train_images_per_second(s, args.warmup, args.steps), **asdict(s)}
        print(f"train   {s.name:26s} {train[s.name]['img_s']:7.1f} img/s", flush=True)
    for s in filter(chosen, EXTRACT_SETTINGS):
        extract[s.name] = {"img_s": extract_images_per_second(s, args.warmup, args.steps), **asdict(s)}
        print(f"extract {s.name:26s} {extract[s.name]['img_s']:7.1f} img/s", flush=True)
    figures = {"cpu_native_bf16": cpu_has_native_bf16(), "train": train, "extract": extract}
    summary = {f"train.{k}": v["img_s"] for k, v in train.items()}
    summary.update({f"extract.{k}": v["img_s"] for k, v in extract.items()})
    command = "python benchmarks/cpu_throughput.py " + shlex.join(sys.argv[1:])
    write_result("cpu_throughput", command, time.perf_counter() - start, figures, summary=summary)


if __name__ == "__main__":
    main()
