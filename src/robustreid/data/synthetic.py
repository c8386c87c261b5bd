"""A procedural person re-ID data set: the default, which needs nothing downloaded.

Each identity gets its own body proportions, clothing colours and pattern,
hair, and accessories; each camera its own background, illumination, colour
cast, blur, viewpoint scale and preferred walking direction; each image its
own pose, crop jitter, occlusion and noise. Groups of look-alike identities
(same clothes, one or two small differences) make clustering err the way it
does on real data. The difficulty is set by :class:`SyntheticKnobs`, which is
part of the cache key, so tuning it never reuses stale images.

Files follow Market-1501 naming (``{pid:04d}_c{cam}s1_{idx:06d}_00.jpg`` in
``bounding_box_train/``, ``query/``, ``bounding_box_test/``) so the Market
parser reads them. Every random draw comes from a generator seeded by
(seed, stream, index), so the output does not depend on generation order.
"""

from __future__ import annotations

import colorsys
import dataclasses
import hashlib
import json
import os
import shutil
import tempfile
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from robustreid.data.datasets.layout import list_images
from robustreid.data.datasets.market_style import MARKET_FOLDERS, camera_from_name, pid_from_name

GENERATOR_VERSION = 1  # part of the cache key: bump it whenever a change alters the drawn images
MANIFEST_NAME = "synthetic.json"
DEFAULT_NUM_CAMERAS = 5
SUPERSAMPLE = 2  # draw at 2x and downsample: cheap anti-aliasing for PIL's aliased shapes
# distractors (pid 0) are background crops or boxes that cut a person in half, like detector misses
DISTRACTOR_PERSON_PROB = 0.5
DISTRACTOR_OFF_CENTRE = (0.4, 0.7)  # sideways shift of that person, in image widths

# label map values: what each pixel of the drawn person is
BACKGROUND, SKIN, HAIR, UPPER, LOWER, SHOES, BAG, HAT = range(8)

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


@dataclass(frozen=True)
class PlannedImage:
    pid: int
    camera: int  # 1-based, as in the file name
    split: str
    index: int


# ---------------------------------------------------------------- random streams

_IDENTITY, _CAMERA, _PLAN, _IMAGE = range(4)


def _rng(seed: int, stream: int, index: int = 0) -> np.random.Generator:
    """Independent reproducible streams: an image's look depends only on (seed, stream, index)."""
    return np.random.default_rng([seed, stream, index])


def _uniform(rng: np.random.Generator, bounds: Sequence[float]) -> float:
    return float(rng.uniform(bounds[0], bounds[1]))


# ---------------------------------------------------------------- identities


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
        rng = _rng(seed, _IDENTITY, pid)
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


# ---------------------------------------------------------------- cameras


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
        gain=_uniform(rng, knobs.camera_gain),
        gamma=_uniform(rng, knobs.camera_gamma),
        cast=1 + rng.uniform(-knobs.camera_cast, knobs.camera_cast, 3),
        blur=_uniform(rng, knobs.camera_blur),
        scale=_uniform(rng, knobs.camera_scale),
        orientation_probs=rng.dirichlet(np.ones(len(ORIENTATIONS))),
        noise_sigma=_uniform(rng, knobs.noise_sigma),
        jpeg_quality=int(rng.integers(knobs.jpeg_quality[0], knobs.jpeg_quality[1] + 1)),
    )


# ---------------------------------------------------------------- one image


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


def draw_person_labels(style: IdentityStyle, pose: Pose, height: int, width: int) -> np.ndarray:
    """A (height, width) uint8 map of body-part labels (SKIN, UPPER, ...), 0 where there is no person."""
    canvas = Image.new("L", (width, height), BACKGROUND)
    _PersonPainter(ImageDraw.Draw(canvas), style, pose).paint()
    return np.asarray(canvas)


class _PersonPainter:
    """Draws a walking figure part by part; back-to-front order handles occlusion between parts."""

    def __init__(self, draw: ImageDraw.ImageDraw, style: IdentityStyle, pose: Pose) -> None:
        self.draw, self.style, self.pose = draw, style, pose
        ph = pose.height
        self.side = pose.orientation == "side"
        self.head_r = style.head * ph
        self.head_y = pose.top + self.head_r
        self.shoulder_y = pose.top + 2 * self.head_r + 0.015 * ph
        self.half_width = style.shoulder * ph * style.build * (0.6 if self.side else 1.0)
        self.waist_y = pose.top + style.torso * ph
        self.hip_y = self.waist_y + 0.06 * ph
        self.foot_y = pose.top + ph
        self.knee_y = (self.hip_y + self.foot_y) / 2
        self.limb = 0.045 * ph * style.build

    def paint(self) -> None:
        back = self.pose.orientation == "back"
        if self.side and self.style.bag == "backpack":
            self._backpack_side()
        if self.style.long_hair and not back:
            self._long_hair()
        self._legs()
        self._torso()
        if self.style.bag == "backpack" and not self.side:
            self._backpack_back() if back else self._backpack_straps()
        self._arms()
        self._head()
        if self.style.long_hair and back:
            self._long_hair()
        if self.style.hat:
            self._hat()
        if self.style.bag == "shoulder":
            self._shoulder_bag()

    def _limb(self, start: tuple[float, float], end: tuple[float, float], label: int, width: float) -> None:
        self.draw.line([start, end], fill=label, width=max(1, round(width)))
        radius = width / 2
        self.draw.ellipse([end[0] - radius, end[1] - radius, end[0] + radius, end[1] + radius], fill=label)

    def _legs(self) -> None:
        cx, ph, style = self.pose.cx, self.pose.height, self.style
        ankle_y = self.foot_y - 0.03 * ph
        toe = 0.6 * self.limb * self.pose.facing if self.side else 0.0
        for s in (-1, 1):
            hip_x = cx if self.side else cx + s * self.half_width * 0.45
            foot_x = hip_x + s * self.pose.stride * ph
            self._limb((hip_x, self.waist_y), (foot_x, ankle_y), SKIN, self.limb)
            if style.lower_kind != "skirt":
                knee_share = 0.5 if style.lower_kind == "shorts" else 1.0
                end = (
                    hip_x + (foot_x - hip_x) * knee_share,
                    self.waist_y + (ankle_y - self.waist_y) * knee_share,
                )
                self._limb((hip_x, self.waist_y), end, LOWER, self.limb * 1.1)
            self.draw.ellipse(
                [
                    foot_x + toe - 1.2 * self.limb,
                    self.foot_y - 0.04 * ph,
                    foot_x + toe + 1.2 * self.limb,
                    self.foot_y,
                ],
                fill=SHOES,
            )
        bottom, flare = (self.knee_y, 1.25) if style.lower_kind == "skirt" else (self.hip_y, 0.95)
        w = self.half_width
        self.draw.polygon(
            [
                (cx - w * 0.85, self.waist_y),
                (cx + w * 0.85, self.waist_y),
                (cx + w * flare, bottom),
                (cx - w * flare, bottom),
            ],
            fill=LOWER,
        )

    def _torso(self) -> None:
        cx, w = self.pose.cx, self.half_width
        self.draw.polygon(
            [
                (cx - w, self.shoulder_y),
                (cx + w, self.shoulder_y),
                (cx + w * 0.85, self.waist_y + 2),
                (cx - w * 0.85, self.waist_y + 2),
            ],
            fill=UPPER,
        )
        r = 0.3 * w if not self.side else 0.5 * w
        for s in (-1, 1):
            x = cx + s * (w - r)
            self.draw.ellipse(
                [x - r, self.shoulder_y - r * 0.6, x + r, self.shoulder_y + r * 1.4], fill=UPPER
            )
        neck = 0.35 * self.head_r
        self.draw.rectangle(
            [cx - neck, self.head_y + 0.6 * self.head_r, cx + neck, self.shoulder_y + 1], fill=SKIN
        )

    def _arms(self) -> None:
        cx, ph = self.pose.cx, self.pose.height
        hand_y = self.waist_y + 0.09 * ph
        for s in (1,) if self.side else (-1, 1):
            shoulder_x = cx + (0 if self.side else s * self.half_width * 0.92)
            swing = self.pose.arm_swing * ph * (3 if self.side else 1)
            hand = (shoulder_x + s * 0.02 * ph + swing, hand_y)
            shoulder = (shoulder_x, self.shoulder_y + 0.02 * ph)
            self._limb(shoulder, hand, SKIN, self.limb * 0.8)
            sleeve_fraction = 0.9 if self.style.long_sleeves else 0.4
            elbow = (
                shoulder[0] + (hand[0] - shoulder[0]) * sleeve_fraction,
                shoulder[1] + (hand[1] - shoulder[1]) * sleeve_fraction,
            )
            self._limb(shoulder, elbow, UPPER, self.limb * 0.95)

    def _head(self) -> None:
        cx, y, r = self.pose.cx, self.head_y, self.head_r
        shift = 0.2 * r * self.pose.facing if self.side else 0.0
        self.draw.ellipse([cx - 0.92 * r, y - 1.06 * r, cx + 0.92 * r, y + 0.95 * r], fill=HAIR)
        if self.pose.orientation != "back":
            face_top = y - (0.5 if not self.side else 0.7) * r
            self.draw.ellipse([cx - 0.8 * r + shift, face_top, cx + 0.8 * r + shift, y + r], fill=SKIN)

    def _long_hair(self) -> None:
        cx, r = self.pose.cx, self.head_r
        self.draw.rectangle(
            [cx - 0.95 * r, self.head_y, cx + 0.95 * r, self.shoulder_y + 0.09 * self.pose.height], fill=HAIR
        )

    def _hat(self) -> None:
        cx, y, r = self.pose.cx, self.head_y, self.head_r
        self.draw.ellipse([cx - 0.97 * r, y - 1.25 * r, cx + 0.97 * r, y - 0.05 * r], fill=HAT)
        brim = 0.5 * r * self.pose.facing if self.side else 0.0
        self.draw.rectangle([cx - 1.15 * r + brim, y - 0.4 * r, cx + 1.15 * r + brim, y - 0.22 * r], fill=HAT)

    def _backpack_back(self) -> None:
        cx, w, ph = self.pose.cx, self.half_width, self.pose.height
        self.draw.rounded_rectangle(
            [cx - 0.78 * w, self.shoulder_y + 0.03 * ph, cx + 0.78 * w, self.waist_y - 0.01 * ph],
            radius=0.2 * w,
            fill=BAG,
        )

    def _backpack_straps(self) -> None:
        cx, w, ph = self.pose.cx, self.half_width, self.pose.height
        for s in (-1, 1):
            x = cx + s * 0.55 * w
            self._limb((x, self.shoulder_y), (x, self.waist_y - 0.08 * ph), BAG, 0.014 * ph)

    def _backpack_side(self) -> None:
        cx, w, ph = self.pose.cx, self.half_width, self.pose.height
        back = cx - self.pose.facing * (w + 0.06 * ph)
        self.draw.rounded_rectangle(
            [min(back, cx), self.shoulder_y + 0.03 * ph, max(back, cx), self.waist_y - 0.01 * ph],
            radius=0.02 * ph,
            fill=BAG,
        )

    def _shoulder_bag(self) -> None:
        cx, w, ph = self.pose.cx, self.half_width, self.pose.height
        bag_x = cx + w * 1.05
        if not self.side:
            self._limb((cx - 0.7 * w, self.shoulder_y), (bag_x, self.waist_y), BAG, 0.012 * ph)
        self.draw.rounded_rectangle(
            [bag_x - 0.05 * ph, self.waist_y - 0.02 * ph, bag_x + 0.05 * ph, self.waist_y + 0.08 * ph],
            radius=0.01 * ph,
            fill=BAG,
        )


def colourize(
    labels: np.ndarray,
    window: tuple[slice, slice],
    style: IdentityStyle,
    pose: Pose,
    rng: np.random.Generator,
) -> np.ndarray:
    """Float32 RGB of the person inside ``window`` of the label map: part colours, the upper-body
    pattern, cylinder-like shading and fabric grain. Working on the person's box only saves most
    of the per-pixel work."""
    palette = np.stack(
        [
            np.zeros(3),
            style.skin,
            style.hair,
            style.upper,
            style.lower,
            style.shoes,
            style.bag_colour,
            style.hat_colour,
        ]
    ).astype(np.float32)
    labels = labels[window]
    rgb = palette[labels]
    rows, cols = np.ogrid[window]
    accent = (labels == UPPER) & _pattern_mask(style, pose, rows, cols)
    rgb[accent] = style.accent
    across = np.clip((cols - pose.cx) / (0.2 * pose.height), -1.5, 1.5)
    shading = (1 - 0.25 * across**2 + 0.12 * pose.light * across).astype(np.float32)
    grain = 1 + 0.04 * rng.standard_normal(labels.shape, dtype=np.float32)
    return rgb * (shading * grain)[..., None]


def _pattern_mask(style: IdentityStyle, pose: Pose, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Where the accent colour goes; ``rows``/``cols`` are broadcastable pixel coordinates."""
    period = max(2.0, style.pattern_period * pose.height)
    y, x = (rows - pose.top) // period, (cols - pose.cx) // period
    if style.pattern == "stripes":
        return np.broadcast_to(y % 2 == 1, np.broadcast_shapes(rows.shape, cols.shape))
    if style.pattern == "checks":
        return (y + x) % 2 == 1
    if style.pattern == "logo" and pose.orientation == "front":  # chest print: seen from the front only
        chest_y = style.torso * 0.55 * pose.height
        return ((cols - pose.cx) ** 2 + (rows - pose.top - chest_y) ** 2) < (1.5 * period) ** 2
    return np.zeros(np.broadcast_shapes(rows.shape, cols.shape), bool)


def add_occlusion(image: np.ndarray, rng: np.random.Generator, knobs: SyntheticKnobs) -> None:
    """Hide a band at the bottom or one side behind an object (car, pole, passer-by)."""
    height, width = image.shape[:2]
    fraction = _uniform(rng, knobs.occlusion_size)
    side = rng.integers(3)
    region = {
        0: np.s_[int(height * (1 - fraction)) :, :],
        1: np.s_[:, : int(width * fraction)],
        2: np.s_[:, int(width * (1 - fraction)) :],
    }[int(side)]
    patch = image[region]
    texture = low_frequency_noise(rng, patch.shape[0], patch.shape[1], 4)[..., None] * 20
    image[region] = clothing_colour(rng, 0.4) + texture


def apply_camera(image: Image.Image, camera: CameraStyle, rng: np.random.Generator) -> Image.Image:
    """The camera's response: gamma, gain and colour cast (one lookup table), then blur and sensor noise."""
    gain = camera.gain * (1 + rng.uniform(-0.08, 0.08))
    levels = np.arange(256) / 255
    table = 255 * levels[None, :] ** camera.gamma * gain * camera.cast[:, None]
    image = image.point(np.clip(table, 0, 255).round().astype(np.uint8).ravel().tolist())
    blurred = np.asarray(image.filter(ImageFilter.GaussianBlur(camera.blur)), dtype=np.float32)
    noisy = blurred + camera.noise_sigma * rng.standard_normal(blurred.shape, dtype=np.float32)
    return Image.fromarray(np.clip(noisy, 0, 255).round().astype(np.uint8))


def render_image(
    style: IdentityStyle | None,
    camera: CameraStyle,
    rng: np.random.Generator,
    params: SyntheticParams,
    off_centre: float = 0.0,
) -> Image.Image:
    """One crop: background, person (None: background only), occlusion, downsampling, camera response.

    ``off_centre`` shifts the person sideways by that fraction of the width, which
    makes the badly-placed boxes that distractor images are.
    """
    height, width = params.height * SUPERSAMPLE, params.width * SUPERSAMPLE
    margin_y, margin_x = np.array(camera.background.shape[:2]) - (height, width)
    y0, x0 = int(rng.integers(0, margin_y + 1)), int(rng.integers(0, margin_x + 1))
    image = camera.background[y0 : y0 + height, x0 : x0 + width].copy()
    if style is not None:
        pose = random_pose(rng, style, camera, height, width, params.knobs)
        pose = dataclasses.replace(pose, cx=pose.cx + off_centre * width)
        labels = draw_person_labels(style, pose, height, width)
        window = _bounding_box(labels > 0)
        person = colourize(labels, window, style, pose, rng)
        image[window] = np.where((labels[window] > 0)[..., None], person, image[window])
    if rng.random() < params.knobs.occlusion_prob:
        add_occlusion(image, rng, params.knobs)
    small = Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).reduce(SUPERSAMPLE)
    return apply_camera(small, camera, rng)


def _bounding_box(mask: np.ndarray) -> tuple[slice, slice]:
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return slice(0, 0), slice(0, 0)
    return slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)


# ---------------------------------------------------------------- the data set


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
    rng = _rng(params.seed, _PLAN)
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
        c: random_camera(_rng(params.seed, _CAMERA, c), canvas_h, canvas_w, params.knobs)
        for c in range(1, params.num_cameras + 1)
    }
    plan = plan_dataset(params)
    styles = identity_styles(sorted({image.pid for image in plan} - {0}), params.seed, params.knobs)
    for split_folder in MARKET_FOLDERS.values():
        (folder / split_folder).mkdir(parents=True)
    for image in plan:
        rng = _rng(params.seed, _IMAGE, image.index)
        camera = cameras[image.camera]
        if image.pid == 0:
            style = random_identity(rng, params.knobs) if rng.random() < DISTRACTOR_PERSON_PROB else None
            off_centre = rng.choice([-1, 1]) * _uniform(rng, DISTRACTOR_OFF_CENTRE)
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
    knobs: SyntheticKnobs | Mapping[str, Any] = SyntheticKnobs(),
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


# ---------------------------------------------------------------- a picture of it


def save_sample_grid(dataset_root: Path, out_png: Path, ids: int = 8, per_id: int = 6) -> Path:
    """A PNG grid: one row per test identity, its images taken across cameras in turn.

    The grid is stored with a 256-colour palette, which keeps documentation images small.
    """
    dataset_root, out_png = Path(dataset_root), Path(out_png)
    by_pid: dict[int, dict[int, list[Path]]] = defaultdict(lambda: defaultdict(list))
    for folder in (MARKET_FOLDERS["query"], MARKET_FOLDERS["gallery"]):
        for path in list_images(dataset_root / folder):
            pid = pid_from_name(path.name)
            if pid is not None and pid > 0:  # distractors have no identity to show
                by_pid[pid][camera_from_name(path.name) or 0].append(path)
    if not by_pid:
        raise FileNotFoundError(f"no labelled query/gallery images under {dataset_root}")
    rows = [_across_cameras(by_pid[pid], per_id) for pid in sorted(by_pid)[:ids]]
    grid = _paste_grid(rows, per_id)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    grid.quantize(256).save(out_png, optimize=True)
    return out_png


def _across_cameras(by_camera: dict[int, list[Path]], count: int) -> list[Path]:
    """Round-robin over cameras so a row shows the same person under every camera it visits."""
    queues = [sorted(paths) for _, paths in sorted(by_camera.items())]
    picked: list[Path] = []
    while len(picked) < count and any(queues):
        picked += [queue.pop(0) for queue in queues if queue][: count - len(picked)]
    return picked


def _paste_grid(rows: list[list[Path]], columns: int, gap: int = 4, label_width: int = 44) -> Image.Image:
    with Image.open(rows[0][0]) as first:
        cell_w, cell_h = first.size
    caption = 12
    grid = Image.new(
        "RGB", (label_width + columns * (cell_w + gap), len(rows) * (cell_h + caption + gap)), "white"
    )
    draw = ImageDraw.Draw(grid)
    for r, paths in enumerate(rows):
        y = r * (cell_h + caption + gap)
        draw.text((2, y + cell_h // 2), f"id {pid_from_name(paths[0].name)}", fill="black")
        for c, path in enumerate(paths):
            x = label_width + c * (cell_w + gap)
            with Image.open(path) as image:
                grid.paste(image.convert("RGB"), (x, y))
            draw.text((x + 2, y + cell_h), f"cam {camera_from_name(path.name)}", fill="black")
    return grid
