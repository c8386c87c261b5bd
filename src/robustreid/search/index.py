"""A searchable gallery: the features of a folder of crops in faiss, tied to the model that made them.

Features of two models (or of one model under two preprocessings) live in
different spaces, and comparing them gives confident nonsense, so an index
records the model's fingerprint (:func:`robustreid.inference.extractor.model_fingerprint`)
and preprocessing and refuses every other model. On disk an index is a folder:

* ``gallery.faiss``: the faiss index (inner product of L2-normalised features, i.e.
  cosine similarity);
* ``index.json``: the format version, the model (fingerprint, architecture, the
  checkpoint it was read from), the preprocessing and the image paths, in index order.

The default index is exact (``IndexFlatIP``): it needs no training and a query of a
100,000-image gallery takes milliseconds. ``ivf_nlist`` makes an inverted-file index
(``IndexIVFFlat``) for galleries of millions, which searches ``nprobe`` of its lists.

Distances are cosine distances, ``1 - cos`` in [0, 2], as everywhere in robustreid.
``rerank=True`` re-ranks each query's shortlist of :data:`RERANK_SHORTLIST` nearest
images with the k-reciprocal re-ranking of the evaluation; whether a query is in the
gallery at all is still decided on its nearest cosine distance, the quantity that
``robustreid calibrate`` calibrates thresholds for.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from robustreid.errors import CheckpointError, ConfigError, DataError
from robustreid.evaluation import re_ranking
from robustreid.inference.checkpoint import Preprocessing
from robustreid.inference.extractor import FeatureExtractor, image_paths

INDEX_FORMAT = 1
FAISS_FILE = "gallery.faiss"
META_FILE = "index.json"
ADD_CHUNK = 8192
"""Images extracted and added at a time: memory stays at ADD_CHUNK x D floats whatever the gallery size."""
IVF_TRAIN_PER_LIST = 64
"""Training images per inverted list (faiss warns below 39); IVF trains on a seeded random sample of this size."""
DEFAULT_NPROBE = 16
RERANK_SHORTLIST = 100


@dataclass(frozen=True)
class Match:
    """One gallery image in a query's ranked list."""

    rank: int  # 1-based
    path: str
    distance: float  # cosine distance 1 - cos
    reranked_distance: float | None = None  # with rerank=True: the distance the list is ordered by


@dataclass(frozen=True)
class QueryResult:
    """A query's ranked matches and, when a threshold was given, whether it is in the gallery at all."""

    query: str
    matches: list[Match]
    in_gallery: bool | None = None  # nearest cosine distance <= threshold; None without a threshold

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class GalleryIndex:
    """Gallery features in faiss, their image paths, and the model and preprocessing that made them."""

    def __init__(
        self,
        index: faiss.Index,
        paths: list[str],
        model: dict[str, Any],
        preprocessing: Preprocessing,
        location: Path | None = None,
    ) -> None:
        self.index, self.paths = index, paths
        self.model, self.preprocessing = model, preprocessing
        self.location = location

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def checkpoint(self) -> Path:
        """The checkpoint the index was built with, as recorded then."""
        return Path(self.model["checkpoint"])

    # ------------------------------------------------------------------ building
    @classmethod
    def build(
        cls, extractor: FeatureExtractor, paths: Sequence[str], ivf_nlist: int | None = None, seed: int = 0
    ) -> GalleryIndex:
        """An index of the images in ``paths`` (files or folders) embedded by ``extractor``: exact, or IVF
        with ``ivf_nlist`` lists."""
        if extractor.checkpoint is None:
            raise ConfigError(
                "an index records the model file its features come from: embed with a checkpoint"
            )
        paths = _unique_resolved(image_paths(paths))
        if not paths:
            raise DataError("no gallery images to index")
        model = {
            "fingerprint": extractor.fingerprint,
            "architecture": extractor.architecture,
            "checkpoint": str(extractor.checkpoint.resolve()),
        }
        if ivf_nlist is None:
            gallery = cls(faiss.IndexFlatIP(extractor.feature_dim), [], model, extractor.preprocessing)
        else:
            _check_nlist(ivf_nlist, len(paths))
            # Trained on a random sample, which is then added first: the order of a gallery is
            # arbitrary, and a sorted folder's first images are often one camera or one day.
            paths = [paths[i] for i in np.random.default_rng(seed).permutation(len(paths))]
            sample = paths[: max(ADD_CHUNK, IVF_TRAIN_PER_LIST * ivf_nlist)]
            features = extractor(sample, numpy=True)
            gallery = cls(_trained_ivf(features, ivf_nlist), [], model, extractor.preprocessing)
            gallery._add_features(features, sample)
            paths = paths[len(sample) :]
        gallery.add(extractor, paths)
        return gallery

    def add(self, extractor: FeatureExtractor, paths: Sequence[str]) -> int:
        """Embed and add the images in ``paths`` (files or folders) not already in the index; returns how
        many were added."""
        self.check_model(extractor)
        known = set(self.paths)
        new = [path for path in _unique_resolved(image_paths(paths)) if path not in known]
        for start in range(0, len(new), ADD_CHUNK):
            chunk = new[start : start + ADD_CHUNK]
            self._add_features(extractor(chunk, numpy=True), chunk)
        return len(new)

    def _add_features(self, features: np.ndarray, paths: list[str]) -> None:
        self.index.add(np.ascontiguousarray(features, dtype=np.float32))
        self.paths += paths

    def check_model(self, extractor: FeatureExtractor) -> None:
        """Refuse a model whose features are not comparable with the index's."""
        where = self.location or "this index"
        if extractor.fingerprint != self.model["fingerprint"]:
            raise CheckpointError(
                f"{where} holds features of another model (built with {self.checkpoint}, fingerprint "
                f"{self.model['fingerprint'][:12]}; {extractor.checkpoint} is {extractor.fingerprint[:12]}): "
                "features of different models cannot be compared; use the index's checkpoint, "
                "or build a new index with `robustreid index build`"
            )
        if extractor.preprocessing != self.preprocessing:
            raise ConfigError(
                f"{where} was built with preprocessing {self.preprocessing}, but {extractor.checkpoint} "
                f"uses {extractor.preprocessing}; build a new index with this checkpoint"
            )

    # ------------------------------------------------------------------ searching
    def query(
        self,
        extractor: FeatureExtractor,
        queries: Sequence[str],
        topk: int = 10,
        threshold: float | None = None,
        rerank: bool = False,
        nprobe: int | None = None,
    ) -> list[QueryResult]:
        """Each query image's ``topk`` nearest gallery images (``queries``: image files or folders of them)."""
        self.check_model(extractor)
        if topk < 1:
            raise ConfigError(f"topk must be at least 1, got {topk}")
        if nprobe is not None:
            if not isinstance(self.index, faiss.IndexIVF):
                raise ConfigError("nprobe only applies to an IVF index (built with --ivf NLIST)")
            self.index.nprobe = nprobe
        queries = image_paths(queries)
        features = extractor(queries, numpy=True)
        shortlist = max(topk, RERANK_SHORTLIST) if rerank else topk
        similarity, ids = self.index.search(np.ascontiguousarray(features, dtype=np.float32), shortlist)
        cosine = _as_distance(similarity)
        if rerank:
            ranked = self._reranked(features, ids, topk)
        else:  # faiss pads with id -1 when it finds fewer than k
            ranked = [(i[i >= 0][:topk], c[i >= 0][:topk], None) for i, c in zip(ids, cosine, strict=True)]
        return [
            QueryResult(
                query,
                self._matches(*ranked[row]),
                None if threshold is None else bool(ids[row, 0] >= 0 and cosine[row, 0] <= threshold),
            )
            for row, query in enumerate(queries)
        ]

    def _matches(self, ids: np.ndarray, cosine: np.ndarray, reranked: np.ndarray | None) -> list[Match]:
        return [
            Match(
                rank + 1,
                self.paths[i],
                float(cosine[rank]),
                None if reranked is None else float(reranked[rank]),
            )
            for rank, i in enumerate(ids.tolist())
        ]

    def _reranked(
        self, features: np.ndarray, ids: np.ndarray, topk: int
    ) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """k-reciprocal re-ranking over the union of the queries' shortlists.

        Per query: the top-k gallery ids in re-ranked order, their cosine and their re-ranked distances.
        """
        candidates = np.unique(ids[ids >= 0])
        if isinstance(self.index, faiss.IndexIVF):
            self.index.make_direct_map()  # reconstructing vectors of an IVF index needs the id -> list map
        gallery = self.index.reconstruct_batch(candidates)
        cosine = _as_distance(features @ gallery.T)
        reranked = re_ranking(cosine, _as_distance(features @ features.T), _as_distance(gallery @ gallery.T))
        order = np.argsort(reranked, axis=1, kind="stable")[:, :topk]
        return [
            (candidates[columns], cosine[row, columns], reranked[row, columns])
            for row, columns in enumerate(order)
        ]

    # ------------------------------------------------------------------ files
    def save(self, folder: str | os.PathLike) -> Path:
        """Write the index folder; each file is replaced atomically, the faiss file first."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        with _atomic_path(folder / FAISS_FILE) as tmp:
            faiss.write_index(self.index, str(tmp))
        meta = {
            "format_version": INDEX_FORMAT,
            "model": self.model,
            "preprocessing": self.preprocessing.as_dict(),
            "paths": self.paths,
        }
        with _atomic_path(folder / META_FILE) as tmp:
            tmp.write_text(json.dumps(meta, indent=1))
        self.location = folder
        return folder

    @classmethod
    def load(cls, folder: str | os.PathLike) -> GalleryIndex:
        """An index folder written by :meth:`save`, checked to be whole."""
        folder = Path(folder)
        if not (folder / META_FILE).is_file() or not (folder / FAISS_FILE).is_file():
            raise DataError(
                f"no gallery index at {folder} (expected {FAISS_FILE} and {META_FILE}); "
                "make one with `robustreid index build`"
            )
        try:
            meta = json.loads((folder / META_FILE).read_text())
            version = meta.get("format_version") if isinstance(meta, dict) else None
        except json.JSONDecodeError:
            version = None
        if version != INDEX_FORMAT:
            raise DataError(
                f"{folder / META_FILE} is not a robustreid gallery index of format {INDEX_FORMAT}; "
                "rebuild it with `robustreid index build`"
            )
        try:
            index = faiss.read_index(str(folder / FAISS_FILE))
        except RuntimeError:
            index = None
        if index is None or index.ntotal != len(meta["paths"]):
            raise DataError(
                f"the gallery index at {folder} is damaged (an interrupted write?); "
                "rebuild it with `robustreid index build`"
            )
        return cls(
            index, meta["paths"], meta["model"], Preprocessing.from_dict(meta["preprocessing"]), folder
        )


def _as_distance(similarity: np.ndarray) -> np.ndarray:
    """Cosine distance from cosine similarity, clipped to [0, 2]: rounding puts an identical image at -1e-7."""
    return np.clip(1.0 - similarity, 0.0, 2.0)


def _unique_resolved(paths: Sequence[str]) -> list[str]:
    """Absolute paths, first occurrence kept: results name files that stay findable from anywhere."""
    return list(dict.fromkeys(str(Path(path).resolve()) for path in paths))


def _check_nlist(nlist: int, num_images: int) -> None:
    if not 1 <= nlist <= num_images:
        raise ConfigError(
            f"--ivf {nlist} needs between 1 and the number of gallery images ({num_images}) lists; "
            "use fewer lists, or the exact index (no --ivf) for a gallery this small"
        )


def _trained_ivf(features: np.ndarray, nlist: int) -> faiss.IndexIVFFlat:
    dim = features.shape[1]
    index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
    index.train(np.ascontiguousarray(features, dtype=np.float32))
    index.nprobe = min(nlist, DEFAULT_NPROBE)
    return index


@contextmanager
def _atomic_path(path: Path) -> Iterator[Path]:
    """A temporary path beside ``path``, renamed onto it when the block succeeds and removed when it fails."""
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
