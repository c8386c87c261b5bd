"""FeatureExtractor: every way of handing it an image gives that image's feature."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

import robustreid
from robustreid.data.images import read_resized
from robustreid.errors import DataError


@pytest.fixture(scope="module")
def extractor(checkpoint):
    return robustreid.FeatureExtractor(checkpoint, device="cpu", batch_size=4)


@pytest.fixture(scope="module")
def image_folder(data_root):
    return data_root / "query"


def test_every_input_kind_gives_the_same_features(extractor, image_folder):
    paths = sorted(str(p) for p in image_folder.glob("*.jpg"))[:3]
    from_folder = extractor(image_folder)
    assert from_folder.shape == (len(list(image_folder.glob("*.jpg"))), 1280)
    torch.testing.assert_close(from_folder.norm(dim=1), torch.ones(len(from_folder)))
    reference = from_folder[:3]

    pil_images = [Image.open(p) for p in paths]
    arrays = [np.asarray(img.convert("RGB")) for img in pil_images]
    float_batch = torch.stack([read_resized(p, 64, 32) for p in paths]).float() / 255
    for images in (
        paths,
        [paths[0], pil_images[1], arrays[2]],  # a list may mix kinds
        pil_images,
        arrays,
        float_batch,
    ):
        torch.testing.assert_close(extractor(images), reference, atol=1e-5, rtol=0)
    torch.testing.assert_close(extractor(paths[0]), reference[:1], atol=1e-5, rtol=0)
    np.testing.assert_allclose(extractor(arrays[1], numpy=True), reference[1:2].numpy(), atol=1e-5)


def test_a_float_batch_of_another_size_is_resized(extractor, image_folder):
    path = sorted(image_folder.glob("*.jpg"))[0]
    full_size = torch.from_numpy(np.asarray(Image.open(path).convert("RGB")).copy()).permute(2, 0, 1)
    features = extractor(full_size.float() / 255)  # 128 x 64, one CHW image
    cosine = float(features[0] @ extractor(str(path))[0])
    assert cosine > 0.99  # antialiased torch resize vs PIL bilinear: close, not bit-identical


def test_top_level_import_stays_light_and_exports_the_extractor(extractor):
    code = "import sys, robustreid; print('torch' in sys.modules, 'FeatureExtractor' in dir(robustreid))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "True"]
    assert isinstance(extractor, robustreid.FeatureExtractor)


@pytest.mark.parametrize(
    "images, message",
    [
        (torch.rand(2, 3, 64, 32) * 2 - 1, r"RGB in \[0, 1\]"),
        (torch.zeros(2, 1, 64, 32), r"float \(N, 3, H, W\)"),
        (np.zeros((64, 32), dtype=np.float32), "HxWx3 uint8"),
        ("no/such/image.jpg", "no such image or folder"),
        (42, "cannot read images from a int"),
        ([], "no images given"),
    ],
    ids=["normalised tensor", "grey tensor", "float array", "missing file", "number", "empty list"],
)
def test_what_is_not_an_image_is_a_clear_error(extractor, images, message):
    with pytest.raises(DataError, match=message):
        extractor(images)
