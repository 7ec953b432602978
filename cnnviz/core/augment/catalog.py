"""The torchvision v2 augmentations the lab offers, with GUI-friendly parameter ranges.

Every entry names a real ``torchvision.transforms.v2`` class and its real keyword
parameters. Lab defaults are chosen so that a freshly toggled transform visibly does
something (flips and other ``p`` parameters default to 1.0), so they can differ from
torchvision's own defaults; :data:`TORCHVISION_DEFAULTS` records the latter.

The lab applies augmentations to the original uint8 image, so pixel-valued parameters
(``fill``, ``RandomSolarize.threshold``, ``RandomErasing.value``) are in 0..255 units.
Left out on purpose: ``RandomErasing.inplace`` (meaningless here) and MixUp/CutMix's
``num_classes``/``labels_getter`` (the lab always mixes two images labelled 0 and 1).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

GROUPS: tuple[str, ...] = ("basic", "geometric", "colour", "other", "policies", "mixing")
INTERPOLATIONS: tuple[str, ...] = ("nearest", "nearest-exact", "bilinear", "bicubic")
POLICIES: tuple[str, ...] = ("imagenet", "cifar10", "svhn")
PADDING_MODES: tuple[str, ...] = ("constant", "edge", "reflect", "symmetric")


@dataclass(frozen=True)
class ParamInfo:
    """One keyword parameter of a transform and how a GUI should offer it.

    kind: "float" | "int" | "bool" | "range" (two floats, lo and hi) | "choice" (one of
    ``choices``) | "size" (int or (height, width)). ``optional`` means None is allowed
    (torchvision then disables that feature). ``scalar_form`` is set for "range"
    parameters that also accept one number: "symmetric" means v reads as [-v, v],
    "one_pm" as [max(0, 1 - v), 1 + v] and "same" as [v, v].
    """

    name: str
    kind: str
    default: Any
    min: float | None = None
    max: float | None = None
    step: float | None = None
    choices: tuple[Any, ...] = ()
    sweepable: bool = False
    optional: bool = False
    scalar_form: str = ""
    help: str = ""

    @property
    def scalar_ok(self) -> bool:
        """Whether a "range" parameter also accepts a single number."""
        return bool(self.scalar_form)


@dataclass(frozen=True)
class TransformInfo:
    """A catalogue entry: the exact torchvision class name, its group and parameters."""

    name: str
    group: str
    description: str
    params: tuple[ParamInfo, ...]

    @property
    def param_names(self) -> tuple[str, ...]:
        """Parameter names in torchvision's signature order."""
        return tuple(p.name for p in self.params)

    @property
    def needs_second_image(self) -> bool:
        """MixUp and CutMix blend the image with a second one."""
        return self.group == "mixing"

    def param(self, name: str) -> ParamInfo:
        """The parameter called `name` (KeyError when it has none)."""
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(f"{self.name} has no parameter {name!r}")


def _f(name: str, default: float, lo: float, hi: float, step: float, help: str = "") -> ParamInfo:
    return ParamInfo(name, "float", default, lo, hi, step, sweepable=True, help=help)


def _i(name: str, default: int, lo: int, hi: int, help: str = "", sweep: bool = True) -> ParamInfo:
    return ParamInfo(name, "int", default, lo, hi, 1, sweepable=sweep, help=help)


def _r(
    name: str,
    default: tuple[float, float] | None,
    lo: float,
    hi: float,
    step: float,
    help: str = "",
    scalar: str = "",
    optional: bool = False,
) -> ParamInfo:
    return ParamInfo(name, "range", default, lo, hi, step, (), True, optional, scalar, help)


def _b(name: str, default: bool, help: str = "") -> ParamInfo:
    return ParamInfo(name, "bool", default, help=help)


def _c(name: str, default: Any, choices: tuple[Any, ...]) -> ParamInfo:
    return ParamInfo(name, "choice", default, choices=choices)


def _p(p: float = 1.0) -> ParamInfo:
    return _f("p", p, 0.0, 1.0, 0.05, "probability of applying it")


def _interp(default: str) -> ParamInfo:
    return _c("interpolation", default, INTERPOLATIONS)


def _fill(default: int | None = 0) -> ParamInfo:
    return ParamInfo(
        "fill", "int", default, 0, 255, 1, optional=default is None, help="value of new pixels"
    )


def _center() -> ParamInfo:
    return ParamInfo("center", "range", None, 0, 8192, 1, optional=True, help="(x, y) pixel")


def _size(default: int, name: str = "size", step: int = 1) -> ParamInfo:
    return ParamInfo(name, "size", default, 1, 4096, step, help="int or (height, width)")


def _t(name: str, group: str, description: str, *params: ParamInfo) -> TransformInfo:
    return TransformInfo(name, group, description, params)


_ENTRIES: tuple[TransformInfo, ...] = (
    # basic
    _t(
        "RandomResizedCrop",
        "basic",
        "Crop a random area and aspect ratio, then resize it: the classic ImageNet crop.",
        _size(224),
        _r("scale", (0.08, 1.0), 0.01, 1.0, 0.01, "fraction of the image area kept"),
        _r("ratio", (0.75, 4 / 3), 0.1, 10.0, 0.05, "aspect ratio (w/h) of the crop"),
        _interp("bilinear"),
        _b("antialias", True),
    ),
    _t(
        "RandomCrop",
        "basic",
        "Cut a fixed-size window out of a random place.",
        _size(224),
        ParamInfo("padding", "int", None, 0, 512, 1, optional=True, help="border added first"),
        _b("pad_if_needed", True, "pad when the image is smaller than size"),
        _fill(0),
        _c("padding_mode", "constant", PADDING_MODES),
    ),
    _t(
        "Resize",
        "basic",
        "Rescale the image; a small size shows what low resolution loses.",
        _size(48),
        _interp("bilinear"),
        ParamInfo("max_size", "int", None, 1, 4096, 1, optional=True),
        _b("antialias", True),
    ),
    _t("CenterCrop", "basic", "Keep the central window of the image.", _size(200)),
    _t("RandomHorizontalFlip", "basic", "Mirror the image left to right.", _p()),
    _t("RandomVerticalFlip", "basic", "Turn the image upside down (mirror top to bottom).", _p()),
    # geometric
    _t(
        "RandomRotation",
        "geometric",
        "Rotate by a random angle drawn from a range (degrees).",
        _r("degrees", (-30.0, 30.0), -180.0, 180.0, 1.0, "angle range", "symmetric"),
        _interp("nearest"),
        _b("expand", False, "grow the canvas so the corners stay"),
        _center(),
        _fill(0),
    ),
    _t(
        "RandomPerspective",
        "geometric",
        "Tilt the image as if seen from another viewpoint.",
        _f("distortion_scale", 0.5, 0.0, 1.0, 0.05, "how far corners may move"),
        _p(),
        _interp("bilinear"),
        _fill(0),
    ),
    _t(
        "RandomAffine",
        "geometric",
        "Random rotation, shift, zoom and shear in one step.",
        _r("degrees", (-15.0, 15.0), -180.0, 180.0, 1.0, "angle range", "symmetric"),
        _r("translate", (0.1, 0.1), 0.0, 1.0, 0.01, "max shift (w, h) fractions", optional=True),
        _r("scale", (0.8, 1.2), 0.05, 4.0, 0.05, "zoom factor range", optional=True),
        _r("shear", (-10.0, 10.0), -80.0, 80.0, 1.0, "x shear (deg)", "symmetric", True),
        _interp("nearest"),
        _fill(0),
        _center(),
    ),
    _t(
        "ElasticTransform",
        "geometric",
        "Wobble the image like a reflection in water.",
        _f("alpha", 80.0, 0.0, 1000.0, 5.0, "displacement strength (pixels)"),
        _f("sigma", 5.0, 0.1, 50.0, 0.5, "smoothness of the displacement"),
        _interp("bilinear"),
        _fill(0),
    ),
    # colour
    _t(
        "ColorJitter",
        "colour",
        "Randomly change brightness, contrast, saturation and hue.",
        _r("brightness", (0.6, 1.4), 0.0, 3.0, 0.05, "factor range", "one_pm", True),
        _r("contrast", (0.6, 1.4), 0.0, 3.0, 0.05, "factor range", "one_pm", True),
        _r("saturation", (0.6, 1.4), 0.0, 3.0, 0.05, "factor range", "one_pm", True),
        _r("hue", (-0.1, 0.1), -0.5, 0.5, 0.01, "shift range (turns)", "symmetric", True),
    ),
    _t("RandomGrayscale", "colour", "Drop the colour, keeping three channels.", _p()),
    _t(
        "Grayscale",
        "colour",
        "Always convert to grey (1 or 3 channels).",
        _c("num_output_channels", 3, (1, 3)),
    ),
    _t(
        "RandomAutocontrast",
        "colour",
        "Stretch the darkest pixel to black and the brightest to white.",
        _p(),
    ),
    _t("RandomEqualize", "colour", "Flatten the histogram (histogram equalisation).", _p()),
    _t(
        "RandomPosterize",
        "colour",
        "Keep only a few bits per colour channel.",
        _i("bits", 3, 1, 8, "bits kept per channel"),
        _p(),
    ),
    _t(
        "RandomSolarize",
        "colour",
        "Invert every pixel brighter than a threshold.",
        _f("threshold", 128.0, 0.0, 255.0, 1.0, "0..255 on the lab's uint8 image"),
        _p(),
    ),
    _t(
        "RandomAdjustSharpness",
        "colour",
        "Sharpen (factor > 1) or blur (factor < 1).",
        _f("sharpness_factor", 8.0, 0.0, 20.0, 0.1, "1 leaves the image unchanged"),
        _p(),
    ),
    _t("RandomInvert", "colour", "Turn the image into its photographic negative.", _p()),
    _t(
        "GaussianBlur",
        "colour",
        "Blur with a Gaussian kernel of random width.",
        _size(21, "kernel_size", 2),
        _r("sigma", (2.0, 6.0), 0.1, 50.0, 0.1, "blur width range (pixels)", "same"),
    ),
    _t(
        "GaussianNoise",
        "colour",
        "Add random Gaussian noise to every pixel.",
        _f("mean", 0.0, -1.0, 1.0, 0.01, "on the 0..1 intensity scale"),
        _f("sigma", 0.1, 0.0, 1.0, 0.01, "strength on the 0..1 intensity scale"),
        _b("clip", True, "keep values inside 0..1"),
    ),
    # other
    _t(
        "RandomErasing",
        "other",
        "Blank out a random rectangle (Cutout).",
        _p(),
        _r("scale", (0.02, 0.33), 0.001, 1.0, 0.01, "fraction of the area erased"),
        _r("ratio", (0.3, 3.3), 0.05, 20.0, 0.05, "aspect ratio of the rectangle"),
        _f("value", 0.0, 0.0, 255.0, 1.0, "0..255 on the lab's uint8 image"),
    ),
    # policies
    _t(
        "AutoAugment",
        "policies",
        "A learned list of augmentation pairs (Cubuk et al. 2019).",
        _c("policy", "imagenet", POLICIES),
        _interp("nearest"),
        _fill(None),
    ),
    _t(
        "RandAugment",
        "policies",
        "num_ops random operations, all at one magnitude.",
        _i("num_ops", 2, 0, 10, "operations per image"),
        _i("magnitude", 9, 0, 99, "strength, below num_magnitude_bins"),
        _i("num_magnitude_bins", 31, 2, 100, sweep=False),
        _interp("nearest"),
        _fill(None),
    ),
    _t(
        "AugMix",
        "policies",
        "Blend several randomly augmented copies with the original.",
        _i("severity", 3, 1, 10),
        _i("mixture_width", 3, 1, 10, "augmented copies"),
        _i("chain_depth", -1, -1, 10, "-1: random depth 1..3", sweep=False),
        _f("alpha", 1.0, 0.01, 10.0, 0.05, "Dirichlet/Beta concentration"),
        _b("all_ops", True),
        _interp("bilinear"),
        _fill(None),
    ),
    _t(
        "TrivialAugmentWide",
        "policies",
        "One random operation at a random strength.",
        _i("num_magnitude_bins", 31, 2, 100, sweep=False),
        _interp("nearest"),
        _fill(None),
    ),
    # mixing
    _t(
        "MixUp",
        "mixing",
        "Blend with a second image; the label becomes a soft mix too.",
        _f("alpha", 1.0, 0.01, 10.0, 0.05, "Beta(alpha, alpha) draws the blend weight"),
    ),
    _t(
        "CutMix",
        "mixing",
        "Paste a rectangle of a second image; labels mix by area.",
        _f("alpha", 1.0, 0.01, 10.0, 0.05, "Beta(alpha, alpha) draws the kept area"),
    ),
)

CATALOG: tuple[TransformInfo, ...] = _ENTRIES  # GaussianNoise needs torchvision >= 0.20
_BY_NAME: dict[str, TransformInfo] = {e.name: e for e in CATALOG}


class _Required:
    """The default of a parameter that torchvision requires (it has none)."""

    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Final = _Required()

# torchvision's own keyword defaults, written out so that this module (and the panels that
# read it) need no torch. tests/core/test_augment.py checks them against the installed
# torchvision's signatures; enums are written as their string values.
TORCHVISION_DEFAULTS: dict[str, dict[str, Any]] = {
    "RandomResizedCrop": {
        "size": REQUIRED,
        "scale": (0.08, 1.0),
        "ratio": (0.75, 4 / 3),
        "interpolation": "bilinear",
        "antialias": True,
    },
    "RandomCrop": {
        "size": REQUIRED,
        "padding": None,
        "pad_if_needed": False,
        "fill": 0,
        "padding_mode": "constant",
    },
    "Resize": {"size": REQUIRED, "interpolation": "bilinear", "max_size": None, "antialias": True},
    "CenterCrop": {"size": REQUIRED},
    "RandomHorizontalFlip": {"p": 0.5},
    "RandomVerticalFlip": {"p": 0.5},
    "RandomRotation": {
        "degrees": REQUIRED,
        "interpolation": "nearest",
        "expand": False,
        "center": None,
        "fill": 0,
    },
    "RandomPerspective": {
        "distortion_scale": 0.5,
        "p": 0.5,
        "interpolation": "bilinear",
        "fill": 0,
    },
    "RandomAffine": {
        "degrees": REQUIRED,
        "translate": None,
        "scale": None,
        "shear": None,
        "interpolation": "nearest",
        "fill": 0,
        "center": None,
    },
    "ElasticTransform": {"alpha": 50.0, "sigma": 5.0, "interpolation": "bilinear", "fill": 0},
    "ColorJitter": {"brightness": None, "contrast": None, "saturation": None, "hue": None},
    "RandomGrayscale": {"p": 0.1},
    "Grayscale": {"num_output_channels": 1},
    "RandomAutocontrast": {"p": 0.5},
    "RandomEqualize": {"p": 0.5},
    "RandomPosterize": {"bits": REQUIRED, "p": 0.5},
    "RandomSolarize": {"threshold": REQUIRED, "p": 0.5},
    "RandomAdjustSharpness": {"sharpness_factor": REQUIRED, "p": 0.5},
    "RandomInvert": {"p": 0.5},
    "GaussianBlur": {"kernel_size": REQUIRED, "sigma": (0.1, 2.0)},
    "GaussianNoise": {"mean": 0.0, "sigma": 0.1, "clip": True},
    "RandomErasing": {
        "p": 0.5,
        "scale": (0.02, 0.33),
        "ratio": (0.3, 3.3),
        "value": 0.0,
        "inplace": False,
    },
    "AutoAugment": {"policy": "imagenet", "interpolation": "nearest", "fill": None},
    "RandAugment": {
        "num_ops": 2,
        "magnitude": 9,
        "num_magnitude_bins": 31,
        "interpolation": "nearest",
        "fill": None,
    },
    "AugMix": {
        "severity": 3,
        "mixture_width": 3,
        "chain_depth": -1,
        "alpha": 1.0,
        "all_ops": True,
        "interpolation": "bilinear",
        "fill": None,
    },
    "TrivialAugmentWide": {"num_magnitude_bins": 31, "interpolation": "nearest", "fill": None},
    "MixUp": {"alpha": 1.0, "num_classes": None, "labels_getter": "default"},
    "CutMix": {"alpha": 1.0, "num_classes": None, "labels_getter": "default"},
}


def catalog_entry(name: str) -> TransformInfo:
    """The catalogue entry for torchvision class `name` (KeyError when not offered)."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"{name!r} is not in the augmentation catalogue") from None


def catalog_names() -> tuple[str, ...]:
    """All offered transform names, in catalogue order."""
    return tuple(_BY_NAME)


def torchvision_defaults(name: str) -> dict[str, Any]:
    """torchvision's own keyword defaults for `name` (REQUIRED where it has none)."""
    return TORCHVISION_DEFAULTS[name]


def range_from_scalar(param: ParamInfo, value: float) -> tuple[float, float]:
    """The [lo, hi] range torchvision reads from one number given for a "range" param."""
    v = float(value)
    if param.scalar_form == "symmetric":
        return (-v, v)
    if param.scalar_form == "one_pm":
        return (max(0.0, 1.0 - v), 1.0 + v)
    if param.scalar_form == "same":
        return (v, v)
    raise ValueError(f"parameter {param.name!r} does not accept a single number")
