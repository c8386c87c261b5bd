"""Drawing a person: a label map of body parts from an identity's style and a pose, then its colours."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from robustreid.data.synthetic.parameters import IdentityStyle, Pose

# label map values: what each pixel of the drawn person is
BACKGROUND, SKIN, HAIR, UPPER, LOWER, SHOES, BAG, HAT = range(8)


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
