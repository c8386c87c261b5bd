"""A procedural person re-ID data set: the default, which needs nothing downloaded.

Each identity gets its own body proportions, clothing colours and pattern,
hair, and accessories; each camera its own background, illumination, colour
cast, blur, viewpoint scale and preferred walking direction; each image its
own pose, crop jitter, occlusion and noise. Groups of look-alike identities
(same clothes, one or two small differences) make clustering err the way it
does on real data. The difficulty is set by :class:`SyntheticKnobs`, which is
part of the cache key, so tuning it never reuses stale images.

One module per job: :mod:`.parameters` (what a data set is made of, and the
random draws of identities, cameras and poses), :mod:`.painter` (drawing a
person), :mod:`.rendering` (one image through its camera), :mod:`.writing`
(the Market-style folders and the cache) and :mod:`.sample_grid` (a picture of
the result). The names other modules use are re-exported here.
"""

from robustreid.data.synthetic.parameters import (
    DEFAULT_NUM_CAMERAS,
    SyntheticKnobs,
    SyntheticParams,
    identity_styles,
)
from robustreid.data.synthetic.sample_grid import save_sample_grid
from robustreid.data.synthetic.writing import MANIFEST_NAME, generate_synthetic, synthetic_cache_dir

__all__ = [
    "DEFAULT_NUM_CAMERAS",
    "MANIFEST_NAME",
    "SyntheticKnobs",
    "SyntheticParams",
    "generate_synthetic",
    "identity_styles",
    "save_sample_grid",
    "synthetic_cache_dir",
]
