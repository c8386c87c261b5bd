"""What a synthetic data set is made of: its parameters, and the random draws of its
identities (clothes, body), cameras (scene, photometric response) and poses.

Every random draw comes from a generator seeded by (seed, stream, index), so an
image's look does not depend on the order in which images are generated.
"""

from __future__ import annotations

import colorsys
import dataclasses
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

GENERATOR_VERSION = 1  # part of the cache key: bump it whenever a change alters the drawn images
DEFAULT_NUM_CAMERAS = 5

SKIN_TONES = np.array(
    [[255, 220, 185], [235, 190, 150], [205, 155, 115], [155, 105, 70], [95, 65, 45]], float
)
HAIR_COLOURS = np.array(
    [[20, 15, 10], [60, 40, 25], [110, 75, 40], [200, 170, 110], [150, 150, 150], [130, 50, 25]], float
)
NEUTRAL_COLOURS = np.array(
    [
        [25, 25, 28],
        [235, 235, 230],
        [128, 128, 128],
        [35, 45, 85],
        [200, 185, 150],
        [90, 60, 40],
        [60, 62, 60],
    ],
    float,
)
PATTERNS = ("plain", "stripes", "checks", "logo")
LOWER_KINDS = ("trousers", "shorts", "skirt")
BAGS = ("none", "backpack", "shoulder")
ORIENTATIONS = ("front", "back", "side")


@dataclass(frozen=True)
class SyntheticKnobs:
    """How hard the data set is. Raise a range or probability to make re-ID harder.

    Calibration (default knobs, 100 test ids, 128x64 input, ImageNet EfficientNet-Lite0
    without training): mAP 17.4%, Rank-1 29.7%; with all camera effects off, 53.7% / 81.3%.
    Background texture and the camera's photometric response cost the most.
    """

    lookalike_prob: float = 0.35  # chance an identity copies the previous identity's clothes
    max_lookalike_group: int = 3
    neutral_colour_prob: float = 0.3  # black/white/grey/navy clothes are common and uninformative
    scene_width: float = 4.0  # a camera's scene spans this many image widths; each image crops part of it
    background_saturation: float = 0.2  # 0: grey backgrounds, 1: as colourful as clothes
    background_contrast: float = 0.1  # strength of background texture and tiles/bricks patterns
    clutter_per_crop: float = 0.3  # mean number of background objects per image-sized area
    camera_gain: tuple[float, float] = (0.85, 1.15)
    camera_gamma: tuple[float, float] = (0.9, 1.1)
    camera_cast: float = 0.05  # +-fraction per colour channel
    camera_blur: tuple[float, float] = (0.0, 0.6)  # Gaussian radius in output pixels
    camera_scale: tuple[float, float] = (0.85, 1.0)  # person height / image height
    noise_sigma: tuple[float, float] = (1.0, 3.0)
    jpeg_quality: tuple[int, int] = (80, 95)
    crop_jitter: float = 0.06  # +-fraction of the image size
    scale_jitter: float = 0.05
    occlusion_prob: float = 0.2
    occlusion_size: tuple[float, float] = (0.15, 0.4)
    distractors_per_test_id: float = 0.5


@dataclass(frozen=True)
class SyntheticParams:
    """Everything the generated images depend on; their hash names the output folder."""

    num_train_ids: int = 200
    num_test_ids: int = 100
    num_cameras: int = DEFAULT_NUM_CAMERAS
    images_per_id: tuple[int, int] = (8, 16)
    height: int = 128
    width: int = 64
    seed: int = 0
    knobs: SyntheticKnobs = SyntheticKnobs()

    def __post_init__(self) -> None:
        low, high = self.images_per_id
        if self.num_train_ids < 1 or self.num_test_ids < 1:
            raise ValueError("num_train_ids and num_test_ids must be at least 1")
        if self.num_train_ids + self.num_test_ids > 9999:
            raise ValueError("at most 9999 identities fit the 4-digit Market naming")
        if not 2 <= self.num_cameras <= 9:
            raise ValueError(f"num_cameras must be 2..9 (one digit in _c<cam>), got {self.num_cameras}")
        if not 4 <= low <= high:
            raise ValueError(
                f"images_per_id must be (min, max) with 4 <= min <= max, got {self.images_per_id}: "
                "every test identity needs two cameras with two images each"
            )
        if self.height < 32 or self.width < 16:
            raise ValueError(f"images of {self.height}x{self.width} are too small to draw a person")

    def manifest(self) -> dict[str, Any]:
        return {"generator_version": GENERATOR_VERSION, **dataclasses.asdict(self)}

    def digest(self) -> str:
        return hashlib.sha1(json.dumps(self.manifest(), sort_keys=True).encode()).hexdigest()[:12]


@dataclass(frozen=True)
class IdentityStyle:
    skin: np.ndarray
    hair: np.ndarray
    upper: np.ndarray
    accent: np.ndarray  # second colour of the upper-body pattern
    lower: np.ndarray
    shoes: np.ndarray
    bag_colour: np.ndarray
    hat_colour: np.ndarray
    pattern: str
    pattern_period: float  # fraction of the person's height
    long_hair: bool
    long_sleeves: bool
    lower_kind: str
    bag: str
    hat: bool
    height: float  # body proportions, fractions of the drawn person's height
    shoulder: float
    head: float
    torso: float
    build: float


@dataclass(frozen=True)
class CameraStyle:
    background: np.ndarray  # float RGB, larger than an image: each image crops it at a random offset
    gain: float
    gamma: float
    cast: np.ndarray
    blur: float
    scale: float
    orientation_probs: np.ndarray
    noise_sigma: float
    jpeg_quality: int


@dataclass(frozen=True)
class Pose:
    orientation: str
    cx: float
    top: float
    height: float  # of the person, in pixels
    stride: float
    arm_swing: float
    facing: int  # +1 right / -1 left, for side views
    light: float  # horizontal light direction, -1..1


IDENTITY_STREAM, CAMERA_STREAM, PLAN_STREAM, IMAGE_STREAM = range(4)


def stream_rng(seed: int, stream: int, index: int = 0) -> np.random.Generator:
    """Independent reproducible streams: an image's look depends only on (seed, stream, index)."""
    return np.random.default_rng([seed, stream, index])


def uniform_in(rng: np.random.Generator, bounds: Sequence[float]) -> float:
    return float(rng.uniform(bounds[0], bounds[1]))


def clothing_colour(rng: np.random.Generator, neutral_prob: float) -> np.ndarray:
    """An RGB colour: a common neutral (black, navy, beige...) or any hue, as clothes are."""
    if rng.random() < neutral_prob:
        return np.clip(NEUTRAL_COLOURS[rng.integers(len(NEUTRAL_COLOURS))] + rng.normal(0, 8, 3), 0, 255)
    hue, saturation, value = rng.random(), rng.uniform(0.35, 0.9), rng.uniform(0.3, 0.95)
    return np.array(colorsys.hsv_to_rgb(hue, saturation, value)) * 255


def random_identity(rng: np.random.Generator, knobs: SyntheticKnobs) -> IdentityStyle:
    def colour() -> np.ndarray:
        return clothing_colour(rng, knobs.neutral_colour_prob)

    return IdentityStyle(
        skin=SKIN_TONES[rng.integers(len(SKIN_TONES))] + rng.normal(0, 6, 3),
        hair=HAIR_COLOURS[rng.integers(len(HAIR_COLOURS))] + rng.normal(0, 6, 3),
        upper=colour(),
        accent=colour(),
        lower=colour(),
        shoes=colour(),
        bag_colour=colour(),
        hat_colour=colour(),
        pattern=str(rng.choice(PATTERNS, p=[0.45, 0.25, 0.15, 0.15])),
        pattern_period=rng.uniform(0.025, 0.06),
        long_hair=bool(rng.random() < 0.35),
        long_sleeves=bool(rng.random() < 0.55),
        lower_kind=str(rng.choice(LOWER_KINDS, p=[0.7, 0.2, 0.1])),
        bag=str(rng.choice(BAGS, p=[0.5, 0.3, 0.2])),
        hat=bool(rng.random() < 0.15),
        **_random_body(rng),
    )


def _random_body(rng: np.random.Generator) -> dict[str, float]:
    return {
        "height": rng.uniform(0.88, 1.0),
        "shoulder": rng.uniform(0.13, 0.17),
        "head": rng.uniform(0.058, 0.07),
        "torso": rng.uniform(0.43, 0.5),
        "build": rng.uniform(0.85, 1.2),
    }


def lookalike(parent: IdentityStyle, rng: np.random.Generator, knobs: SyntheticKnobs) -> IdentityStyle:
    """Same upper clothes as ``parent``, new body, and one or two other details changed."""
    fresh = random_identity(rng, knobs)
    details = {
        "hair": {"hair": fresh.hair, "long_hair": fresh.long_hair},
        "bag": {"bag": str(rng.choice([b for b in BAGS if b != parent.bag])), "bag_colour": fresh.bag_colour},
        "hat": {"hat": not parent.hat, "hat_colour": fresh.hat_colour},
        "lower": {"lower": fresh.lower, "lower_kind": fresh.lower_kind},
        "shoes": {"shoes": fresh.shoes},
        "accent": {"accent": fresh.accent},
    }
    changed = rng.choice(list(details), size=rng.integers(1, 3), replace=False)
    changes = {key: value for name in changed for key, value in details[str(name)].items()}
    return dataclasses.replace(parent, **changes, **_random_body(rng))


def identity_styles(pids: Sequence[int], seed: int, knobs: SyntheticKnobs) -> dict[int, IdentityStyle]:
    """One style per pid; consecutive pids form look-alike groups with probability ``lookalike_prob``."""
    styles: dict[int, IdentityStyle] = {}
    group_root, group_size = None, 0
    for pid in pids:
        rng = stream_rng(seed, IDENTITY_STREAM, pid)
        if (
            group_root is not None
            and group_size < knobs.max_lookalike_group
            and rng.random() < knobs.lookalike_prob
        ):
            styles[pid] = lookalike(group_root, rng, knobs)
            group_size += 1
        else:
            styles[pid] = group_root = random_identity(rng, knobs)
            group_size = 1
    return styles


def low_frequency_noise(rng: np.random.Generator, height: int, width: int, cells: int) -> np.ndarray:
    """Smooth random field in about [-1, 1]: a coarse grid upsampled bicubically."""
    coarse = rng.normal(size=(cells, max(2, cells * width // height))).astype(np.float32)
    return np.asarray(Image.fromarray(coarse, mode="F").resize((width, height), Image.BICUBIC))


def camera_background(rng: np.random.Generator, height: int, width: int, knobs: SyntheticKnobs) -> np.ndarray:
    """A wall above a floor, with smooth texture, a regular pattern and some clutter."""
    wall = _wall_segments(rng, width, height // 2, knobs.background_saturation)
    floor = _muted(clothing_colour(rng, 0.7) * 0.5 + 50, knobs.background_saturation)
    rows = np.arange(height, dtype=float)[:, None, None]
    horizon = rng.uniform(0.3, 0.75) * height
    floor_weight = 1 / (1 + np.exp(-(rows - horizon) / (0.03 * height)))
    image = wall[None] * (1 - floor_weight) + floor * floor_weight
    texture = low_frequency_noise(rng, height, width, int(rng.integers(3, 10)))
    image += texture[..., None] * rng.uniform(8, 35) * knobs.background_contrast
    image *= _background_pattern(rng, height, width, knobs.background_contrast)[..., None]
    _add_clutter(rng, image, round(knobs.clutter_per_crop * knobs.scene_width))
    return image.astype(np.float32)


def _wall_segments(rng: np.random.Generator, width: int, mean_segment: int, saturation: float) -> np.ndarray:
    """(width, 3) wall colours: shop fronts, doors and windows of varied colour along the scene, so
    that the background colour changes from image to image within a camera."""
    colours = []
    while len(colours) < width:
        colour = _muted(clothing_colour(rng, 0.5) * 0.6 + 60, saturation)
        colours += [colour] * int(rng.integers(mean_segment // 2, mean_segment * 3 // 2 + 1))
    return np.array(colours[:width])


def _muted(colour: np.ndarray, saturation: float) -> np.ndarray:
    """Pull a colour towards its grey: 0 gives grey, 1 keeps it."""
    grey = colour.mean()
    return grey + saturation * (colour - grey)


def _background_pattern(rng: np.random.Generator, height: int, width: int, contrast: float) -> np.ndarray:
    """Brightness factor of tiles, columns or bricks, which give each camera a recognisable texture."""
    rows, cols = np.mgrid[0:height, 0:width]
    period = rng.uniform(0.08, 0.25) * height
    kind = rng.integers(4)
    if kind == 0:  # floor tiles / grid
        lines = (rows % period < 2) | (cols % period < 2)
    elif kind == 1:  # columns / shelves
        lines = (cols // period) % 2 == 0
    elif kind == 2:  # bricks: rows of blocks offset every other row
        lines = (rows % (period / 2) < 2) | (((cols + (rows // (period / 2)) % 2 * period / 2) % period) < 2)
    else:
        lines = np.zeros((height, width), bool)
    return np.where(lines, 1 - contrast * rng.uniform(0.1, 0.3), 1.0)


def _add_clutter(rng: np.random.Generator, image: np.ndarray, count: int) -> None:
    """Boxes of other colours (benches, signs, poles): background content a model must learn to ignore."""
    height, width = image.shape[:2]
    for _ in range(count):
        x0, y0 = rng.uniform(0, width), rng.uniform(0, height)
        w, h = rng.uniform(0.05, 0.2) * width, rng.uniform(0.05, 0.5) * height
        image[int(y0) : int(y0 + h), int(x0) : int(x0 + w)] = clothing_colour(rng, 0.5)


def random_camera(rng: np.random.Generator, height: int, width: int, knobs: SyntheticKnobs) -> CameraStyle:
    """``height``/``width`` are those of the drawing canvas; the camera's scene is wider (``scene_width``
    canvases) so that backgrounds vary from image to image within a camera."""
    return CameraStyle(
        background=camera_background(rng, height + width // 4, round(width * knobs.scene_width), knobs),
        gain=uniform_in(rng, knobs.camera_gain),
        gamma=uniform_in(rng, knobs.camera_gamma),
        cast=1 + rng.uniform(-knobs.camera_cast, knobs.camera_cast, 3),
        blur=uniform_in(rng, knobs.camera_blur),
        scale=uniform_in(rng, knobs.camera_scale),
        orientation_probs=rng.dirichlet(np.ones(len(ORIENTATIONS))),
        noise_sigma=uniform_in(rng, knobs.noise_sigma),
        jpeg_quality=int(rng.integers(knobs.jpeg_quality[0], knobs.jpeg_quality[1] + 1)),
    )


def random_pose(
    rng: np.random.Generator,
    style: IdentityStyle,
    camera: CameraStyle,
    height: int,
    width: int,
    knobs: SyntheticKnobs,
) -> Pose:
    person_height = height * camera.scale * style.height * (1 + rng.uniform(-1, 1) * knobs.scale_jitter)
    return Pose(
        orientation=str(rng.choice(ORIENTATIONS, p=camera.orientation_probs)),
        cx=width / 2 + rng.uniform(-1, 1) * knobs.crop_jitter * width,
        top=(height - person_height) / 2 + rng.uniform(-1, 1) * knobs.crop_jitter * height,
        height=person_height,
        stride=rng.uniform(0.0, 0.09),
        arm_swing=rng.uniform(-0.05, 0.05),
        facing=int(rng.choice([-1, 1])),
        light=rng.uniform(-1, 1),
    )
