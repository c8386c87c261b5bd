"""The data set on disk: which images exist, drawing them into the Market-1501 folders, and the cache.

Files follow Market-1501 naming (``{pid:04d}_c{cam}s1_{idx:06d}_00.jpg`` in
``bounding_box_train/``, ``query/``, ``bounding_box_test/``) so the Market
parser reads them. A data set is generated once into a folder named by the
hash of its parameters.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from robustreid.data.datasets.market_style import MARKET_FOLDERS
from robustreid.data.synthetic.parameters import (
    CAMERA_STREAM,
    DEFAULT_NUM_CAMERAS,
    IMAGE_STREAM,
    PLAN_STREAM,
    SyntheticKnobs,
    SyntheticParams,
    identity_styles,
    random_camera,
    random_identity,
    stream_rng,
    uniform_in,
)
from robustreid.data.synthetic.rendering import SUPERSAMPLE, render_image

MANIFEST_NAME = "synthetic.json"
# distractors (pid 0) are background crops or boxes that cut a person in half, like detector misses
DISTRACTOR_PERSON_PROB = 0.5
DISTRACTOR_OFF_CENTRE = (0.4, 0.7)  # sideways shift of that person, in image widths


@dataclass(frozen=True)
class PlannedImage:
    pid: int
    camera: int  # 1-based, as in the file name
    split: str
    index: int


def camera_visits(rng: np.random.Generator, num_images: int, num_cameras: int) -> list[int]:
    """The 1-based camera of each image; at least two cameras, each seeing the person at least twice."""
    count = int(rng.integers(2, min(num_cameras, num_images // 2) + 1))
    cameras = rng.choice(np.arange(1, num_cameras + 1), size=count, replace=False)
    visits = [int(cameras[i % count]) for i in range(num_images)]
    return [visits[i] for i in rng.permutation(num_images)]


def plan_identity(rng: np.random.Generator, params: SyntheticParams, test: bool) -> list[tuple[int, str]]:
    """(camera, split) of each image of one identity.

    A test identity gives one query image in each of a random subset of its
    cameras, like Market-1501; since every camera holds two or more images,
    each query keeps a true match in another camera of the gallery.
    """
    visits = camera_visits(
        rng, int(rng.integers(params.images_per_id[0], params.images_per_id[1] + 1)), params.num_cameras
    )
    if not test:
        return [(camera, "train") for camera in visits]
    cameras = sorted(set(visits))
    query_cameras = set(
        rng.choice(cameras, size=int(rng.integers(1, len(cameras) + 1)), replace=False).tolist()
    )
    planned = []
    for camera in visits:
        split = "query" if camera in query_cameras else "gallery"
        query_cameras.discard(camera)
        planned.append((camera, split))
    return planned


def plan_dataset(params: SyntheticParams) -> list[PlannedImage]:
    """Every image to draw: train ids 1..N, test ids N+1..N+M, distractors (pid 0) in the gallery."""
    rng = stream_rng(params.seed, PLAN_STREAM)
    train_pids = range(1, params.num_train_ids + 1)
    test_pids = range(params.num_train_ids + 1, params.num_train_ids + params.num_test_ids + 1)
    rows = [
        (pid, camera, split)
        for pids, test in ((train_pids, False), (test_pids, True))
        for pid in pids
        for camera, split in plan_identity(rng, params, test)
    ]
    num_distractors = round(params.knobs.distractors_per_test_id * params.num_test_ids)
    rows += [(0, int(rng.integers(1, params.num_cameras + 1)), "gallery") for _ in range(num_distractors)]
    return [PlannedImage(pid, camera, split, index) for index, (pid, camera, split) in enumerate(rows)]


def image_name(image: PlannedImage) -> str:
    return f"{image.pid:04d}_c{image.camera}s1_{image.index:06d}_00.jpg"


def write_images(folder: Path, params: SyntheticParams) -> None:
    """Draw every planned image into the Market folders under ``folder``."""
    canvas_h, canvas_w = params.height * SUPERSAMPLE, params.width * SUPERSAMPLE
    cameras = {
        c: random_camera(stream_rng(params.seed, CAMERA_STREAM, c), canvas_h, canvas_w, params.knobs)
        for c in range(1, params.num_cameras + 1)
    }
    plan = plan_dataset(params)
    styles = identity_styles(sorted({image.pid for image in plan} - {0}), params.seed, params.knobs)
    for split_folder in MARKET_FOLDERS.values():
        (folder / split_folder).mkdir(parents=True)
    for image in plan:
        rng = stream_rng(params.seed, IMAGE_STREAM, image.index)
        camera = cameras[image.camera]
        if image.pid == 0:
            style = random_identity(rng, params.knobs) if rng.random() < DISTRACTOR_PERSON_PROB else None
            off_centre = rng.choice([-1, 1]) * uniform_in(rng, DISTRACTOR_OFF_CENTRE)
            picture = render_image(style, camera, rng, params, off_centre=off_centre)
        else:
            picture = render_image(styles[image.pid], camera, rng, params)
        picture.save(folder / MARKET_FOLDERS[image.split] / image_name(image), quality=camera.jpeg_quality)


def generate_synthetic(
    root: Path,
    num_train_ids: int = 200,
    num_test_ids: int = 100,
    num_cameras: int = DEFAULT_NUM_CAMERAS,
    images_per_id: tuple[int, int] = (8, 16),
    height: int = 128,
    width: int = 64,
    seed: int = 0,
    knobs: SyntheticKnobs | Mapping[str, Any] = SyntheticKnobs(),  # noqa: B008 (frozen, so safe to share)
) -> Path:
    """Generate once into ``root/<hash of the parameters>`` and return that folder.

    ``knobs`` may be a mapping of :class:`SyntheticKnobs` fields, as a config file or
    ``--option knobs={...}`` on the command line gives them.

    A folder whose manifest matches is reused as is. Images are written to a
    temporary folder renamed into place at the end, so an interrupted or
    concurrent run never leaves a half-written data set behind.
    """
    if not isinstance(knobs, SyntheticKnobs):
        knobs = SyntheticKnobs(**knobs)
    params = SyntheticParams(
        num_train_ids, num_test_ids, num_cameras, tuple(images_per_id), height, width, seed, knobs
    )
    folder = Path(root).expanduser() / params.digest()
    if folder.exists():
        _check_manifest(folder, params)
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        write_images(staging, params)
        (staging / MANIFEST_NAME).write_text(json.dumps(params.manifest(), indent=2, sort_keys=True))
        os.rename(staging, folder)
    except OSError:
        if not folder.exists():  # a real failure, not another process finishing first
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder


def _check_manifest(folder: Path, params: SyntheticParams) -> None:
    manifest = folder / MANIFEST_NAME
    if not manifest.is_file() or json.loads(manifest.read_text()) != json.loads(
        json.dumps(params.manifest())
    ):
        raise FileExistsError(
            f"{folder} exists but was not generated with these parameters; remove it to regenerate"
        )


def synthetic_cache_dir() -> Path:
    """``$ROBUSTREID_CACHE/synthetic``, default ``~/.cache/robustreid/synthetic``."""
    return Path(os.environ.get("ROBUSTREID_CACHE", "~/.cache/robustreid")).expanduser() / "synthetic"
