"""Finding a data set's folders on disk, and saying clearly what is missing.

Users unpack archives in many ways (with or without the archive's top folder,
under a folder named after the data set or not), so each data set lists the
places its files may sit and the layouts it understands; the first complete
match wins. When none is complete the error names the missing entries of the
closest match and draws the expected tree, so the fix is obvious.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from robustreid.errors import DataError

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})


@dataclass(frozen=True)
class Layout:
    """A named set of entries that must all exist; entries ending in ``/`` are folders."""

    name: str
    entries: tuple[str, ...]

    def missing(self, base: Path) -> list[str]:
        return [entry for entry in self.entries if not _entry_exists(base, entry)]


def _entry_exists(base: Path, entry: str) -> bool:
    path = base / entry.rstrip("/")
    return path.is_dir() if entry.endswith("/") else path.is_file()


def is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".")


def list_images(folder: Path, recursive: bool = False) -> list[Path]:
    """Image files in a folder, sorted by path so every run sees the same order; other files are ignored."""
    candidates = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(path for path in candidates if is_image(path) and path.is_file())


def contained_path(relative: str, base: Path, roots: Sequence[Path], source: str) -> Path:
    """``base / relative`` (as given), refused unless it stays inside one of ``roots``.

    Label files (CSVs, lists) may come from elsewhere: a ``../`` or an absolute path
    in one must not make robustreid read, and draw in its pictures, files outside
    the folders the user named. The check is on the normalised text, not on
    resolved links, so a symlink the user placed inside a root still works.
    """
    path = base / relative
    normalised = Path(os.path.normpath(os.path.abspath(path)))
    allowed = [Path(os.path.normpath(os.path.abspath(root))) for root in roots]
    if not any(normalised.is_relative_to(root) for root in allowed):
        raise DataError(
            f"{source}: image path {relative!r} points outside {' and '.join(map(str, allowed))}; "
            "image paths must be relative and stay inside the data folder"
        )
    return path


def require_root(root: Path | None, dataset: str) -> Path:
    """Real data sets cannot invent a location: say so instead of failing on ``None / 'x'``."""
    if root is None:
        raise DataError(f"data set {dataset!r} needs root=<folder holding the data> (--data-root DIR)")
    return Path(root).expanduser()


def find_layout(
    dataset: str, root: Path, bases: Sequence[str], layouts: Sequence[Layout]
) -> tuple[Path, Layout]:
    """The first (base folder, layout) pair under ``root`` whose entries all exist.

    ``bases`` are folders relative to ``root`` ("" is root itself), tried in order.
    Raises FileNotFoundError naming what is missing and showing the expected tree.
    """
    candidates = [(root / base, layout) for base in bases for layout in layouts]
    for base, layout in candidates:
        if not layout.missing(base):
            return base, layout
    closest_base, closest = min(candidates, key=lambda c: len(c[1].missing(c[0])))
    missing = ", ".join(str(closest_base / entry) for entry in closest.missing(closest_base))
    raise DataError(f"{dataset}: missing {missing}\n{expected_tree(root, bases, layouts)}")


def expected_tree(root: Path, bases: Sequence[str], layouts: Sequence[Layout]) -> str:
    """A text drawing of where the data may sit and what each layout must contain."""
    lines = [f"Expected under {root}, in one of these folders:"]
    lines += [f"  {root / base}/" if base else f"  {root}/ (directly)" for base in bases]
    for layout in layouts:
        lines.append(f"holding the {layout.name} layout:" if len(layouts) > 1 else "holding:")
        lines += [
            f"  {'└──' if i == len(layout.entries) - 1 else '├──'} {entry}"
            for i, entry in enumerate(layout.entries)
        ]
    return "\n".join(lines)
