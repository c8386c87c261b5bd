"""The user's own images: a folder for training, optionally labelled query/gallery.

Unsupervised training needs no labels, so training images are simply every
image under ``root/train`` (or ``root`` itself), in any sub-folder. Evaluation
needs identities, given either by file names ``<pid>_c<camera>_...`` (camera
optional) or by a CSV. Camera numbers are re-indexed to 0..n-1 over the whole
data set, so ``_c0``/``_c1``-based names and arbitrary camera labels all work;
data without cameras gets camid -1 and must be evaluated without the
same-camera filter.
"""

from __future__ import annotations

import csv as csv_module
from pathlib import Path

from robustreid.data.base import ImageItem, ReidDataset
from robustreid.data.datasets.layout import IMAGE_EXTENSIONS, contained_path, list_images, require_root
from robustreid.data.datasets.market_style import JUNK_PID, camera_from_name, pid_from_name
from robustreid.errors import DataError

NO_CAMERA = -1
CSV_COLUMNS = ("path", "pid", "camid")
EVAL_SPLITS = ("query", "gallery")
FOLDER_TREE = """Expected:
  <root>/
  ├── train/      (optional; else every image under <root>) any sub-folders, names free
  ├── query/      (optional) <pid>_c<camera>_<anything>.jpg, camera optional
  └── gallery/    (optional) same naming as query/
or query/gallery given as CSV files with columns path,pid,camid (paths relative to the CSV),
or csv=<one CSV> with columns path,pid,camid,split (split = query or gallery)."""


def load_folder(
    root: Path | None,
    query: str | Path | None = None,
    gallery: str | Path | None = None,
    csv: str | Path | None = None,
) -> ReidDataset:
    """Training images from ``root``; query/gallery from folders or CSV files when given or present."""
    root = require_root(root, "folder")
    if not root.is_dir():
        raise DataError(f"folder: missing {root}\n{FOLDER_TREE}")
    evaluation = read_csv(Path(csv), default_split=None, root=root) if csv is not None else {}
    given = {"query": query, "gallery": gallery}
    sources = {split: _eval_source(root, split, given[split], evaluation) for split in EVAL_SPLITS}
    for split, source in sources.items():
        if source is not None:
            evaluation[split] = read_eval_source(source, split, root)
    if bool(evaluation.get("query")) != bool(evaluation.get("gallery")):
        raise DataError(f"folder: query and gallery must be given together\n{FOLDER_TREE}")
    excluded = {
        *(s for s in sources.values() if s is not None),
        *(Path(it.path) for items in evaluation.values() for it in items),
    }
    train = read_train_images(root, excluded)
    return with_dense_cameras(
        ReidDataset("folder", train, evaluation.get("query", []), evaluation.get("gallery", []))
    )


def _eval_source(
    root: Path, split: str, given: str | Path | None, from_csv: dict[str, list[ImageItem]]
) -> Path | None:
    """The given source, else ``root/<split>`` when present and the CSV did not already provide the split."""
    if given is not None:
        return Path(given)
    folder = root / split
    return folder if folder.is_dir() and split not in from_csv else None


def read_train_images(root: Path, excluded: set[Path]) -> list[ImageItem]:
    """Every image under ``root/train`` (or ``root``) with unknown pid, minus evaluation files and folders.

    Excluding them matters when training falls back to ``root`` itself, which
    also holds ``query/`` and ``gallery/``: evaluating on training images would
    inflate every score.
    """
    train_root = root / "train" if (root / "train").is_dir() else root
    excluded = {path.resolve() for path in excluded}
    paths = [p for p in list_images(train_root, recursive=True) if not _is_excluded(p.resolve(), excluded)]
    if not paths:
        raise DataError(
            f"folder: no images ({', '.join(sorted(IMAGE_EXTENSIONS))}) under {train_root}\n{FOLDER_TREE}"
        )
    return [ImageItem(str(p), JUNK_PID, _raw_camera(p.name)) for p in paths]


def _is_excluded(path: Path, excluded: set[Path]) -> bool:
    return path in excluded or not excluded.isdisjoint(path.parents)


def _raw_camera(name: str) -> int:
    camera = camera_from_name(name)
    return NO_CAMERA if camera is None else camera


def read_eval_source(source: Path, split: str, root: Path) -> list[ImageItem]:
    """A query/gallery split from a folder of ``<pid>_c<cam>_...`` images or from a CSV."""
    if source.suffix.lower() == ".csv":
        return read_csv(source, default_split=split, root=root)[split]
    if not source.is_dir():
        raise DataError(f"folder: {split} source {source} is neither a folder nor a .csv file")
    return read_labelled_folder(source)


def read_labelled_folder(folder: Path) -> list[ImageItem]:
    """Items named ``<pid>[_c<camera>]_...``; junk (pid -1) is dropped as in Market-1501."""
    items = []
    for path in list_images(folder, recursive=True):
        pid = pid_from_name(path.name)
        if pid is None:
            raise DataError(
                f"{path}: evaluation images must be named <pid>_c<camera>_..., e.g. 0007_c2_0001.jpg"
            )
        if pid != JUNK_PID:
            items.append(ImageItem(str(path), pid, _raw_camera(path.name)))
    return items


def read_csv(csv_file: Path, default_split: str | None, root: Path) -> dict[str, list[ImageItem]]:
    """Rows ``path,pid,camid[,split]`` grouped by split; an empty or absent camid means no camera.

    Without ``default_split`` (one CSV for both splits) the ``split`` column is required.

    Paths are relative to the CSV's folder so a data folder can be moved as a whole,
    and must stay inside the data set's ``root`` or the CSV's folder.
    """
    if not csv_file.is_file():
        raise DataError(f"folder: CSV {csv_file} does not exist")
    with csv_file.open(newline="") as f:
        reader = csv_module.DictReader(f)
        required = CSV_COLUMNS[:2] + (() if default_split else ("split",))
        missing = [c for c in required if c not in (reader.fieldnames or [])]
        if missing:
            raise DataError(
                f"{csv_file}: missing column(s) {', '.join(missing)}; header must be "
                f"{','.join(CSV_COLUMNS)}{'' if default_split else ',split'}"
            )
        splits: dict[str, list[ImageItem]] = {}
        for line_no, row in enumerate(reader, start=2):
            split = row.get("split") or default_split
            if split not in EVAL_SPLITS:
                raise DataError(f"{csv_file}:{line_no}: split must be query or gallery, got {split!r}")
            item = _csv_item(csv_file, line_no, row, root)
            if item.pid != JUNK_PID:
                splits.setdefault(split, []).append(item)
    return splits


def _csv_item(csv_file: Path, line_no: int, row: dict[str, str], root: Path) -> ImageItem:
    try:
        pid = int(row["pid"])
        camid = int(row["camid"]) if (row.get("camid") or "").strip() else NO_CAMERA
    except ValueError:
        raise DataError(f"{csv_file}:{line_no}: pid and camid must be integers, got {row}") from None
    path = contained_path(row["path"], csv_file.parent, (root, csv_file.parent), f"{csv_file}:{line_no}")
    return ImageItem(str(path), pid, camid)


def with_dense_cameras(dataset: ReidDataset) -> ReidDataset:
    """Re-index raw camera labels to 0..n-1 jointly over all splits (order kept); -1 stays -1."""
    raw = sorted(
        {
            it.camid
            for split in (dataset.train, dataset.query, dataset.gallery)
            for it in split
            if it.camid >= 0
        }
    )
    dense = {camera: index for index, camera in enumerate(raw)}

    def reindex(items: list[ImageItem]) -> list[ImageItem]:
        return [it._replace(camid=dense.get(it.camid, NO_CAMERA)) for it in items]

    return ReidDataset(dataset.name, reindex(dataset.train), reindex(dataset.query), reindex(dataset.gallery))
