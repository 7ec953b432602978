"""The model zoo covers the classic line and describes each entry truthfully."""

from __future__ import annotations

import pytest
import torch

from cnnviz.core.zoo.registry import UnknownArchError, all_archs, get_arch

REQUIRED = [
    "lenet5",
    "alexnet",
    "vgg11",
    "vgg11_bn",
    "vgg16",
    "vgg16_bn",
    "vgg19",
    "vgg19_bn",
    "googlenet",
    "inception_v3",
    "resnet18",
    "resnet50",
    "resnet152",
    "resnext50_32x4d",
    "densenet121",
    "efficientnet_b0",
    "efficientnet_lite0",
    "efficientnet_lite1",
    "efficientnet_lite2",
    "regnet_y_400mf",
    "convnext_tiny",
    "mobilenet_v3_large",
]


def test_classic_line_is_covered():
    assert set(REQUIRED) <= set(all_archs())


def test_entries_are_complete():
    for spec in all_archs().values():
        assert spec.family and 1989 <= spec.year <= 2025 and spec.paper.url.startswith("https://")
        assert spec.input_size in (32, 224, 240, 260, 299, 232, 384)
        assert len(set(spec.categories)) == spec.num_classes
        mean, std = spec.normalisation()
        assert len(mean) == len(std) == 3


@pytest.mark.parametrize(
    "name", ["lenet5", "alexnet", "resnet18", "efficientnet_lite0", "googlenet", "regnet_y_400mf"]
)
def test_parameter_counts_match_the_built_model(name):
    spec = get_arch(name)
    assert spec.num_params == sum(p.numel() for p in spec.builder().parameters())


@pytest.mark.parametrize("name", ["lenet5", "efficientnet_lite0", "inception_v3"])
def test_builders_accept_their_input_size(name):
    spec = get_arch(name)
    with torch.no_grad():
        out = spec.builder().eval()(torch.zeros(1, 3, spec.input_size, spec.input_size))
    assert out.shape == (1, spec.num_classes)


def test_unknown_name_lists_choices():
    with pytest.raises(UnknownArchError, match="choose one of: .*resnet50"):
        get_arch("resnet9000")
