"""One image: a crop of the camera's scene, the person painted in, an occlusion, then the camera's response."""

from __future__ import annotations

import dataclasses

import numpy as np
from PIL import Image, ImageFilter

from robustreid.data.synthetic.painter import colourize, draw_person_labels
from robustreid.data.synthetic.parameters import (
    CameraStyle,
    IdentityStyle,
    SyntheticKnobs,
    SyntheticParams,
    clothing_colour,
    low_frequency_noise,
    random_pose,
    uniform_in,
)

SUPERSAMPLE = 2  # draw at 2x and downsample: cheap anti-aliasing for PIL's aliased shapes


def add_occlusion(image: np.ndarray, rng: np.random.Generator, knobs: SyntheticKnobs) -> None:
    """Hide a band at the bottom or one side behind an object (car, pole, passer-by)."""
    height, width = image.shape[:2]
    fraction = uniform_in(rng, knobs.occlusion_size)
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
