"""A picture of a generated data set, for documentation: identities as rows, across their cameras."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from PIL import Image, ImageDraw

from robustreid.data.datasets.layout import list_images
from robustreid.data.datasets.market_style import MARKET_FOLDERS, camera_from_name, pid_from_name


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
