"""Spec text, catalogue and seeded application of torchvision v2 augmentations."""

from __future__ import annotations

import inspect
import os
import random

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import tv_tensors
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

from cnnviz.core.augment.catalog import CATALOG, ParamInfo, catalog_entry, range_from_scalar
from cnnviz.core.augment.pipeline import build_pipeline, transform_seed
from cnnviz.core.augment.spec import (
    AugmentSpec,
    SpecError,
    default_call,
    format_spec,
    make_call,
    parse_spec,
    to_python,
)

BRIEF_NAMES = {
    "RandomResizedCrop", "RandomCrop", "Resize", "CenterCrop", "RandomHorizontalFlip",
    "RandomVerticalFlip", "RandomRotation", "RandomPerspective", "RandomAffine",
    "ElasticTransform", "ColorJitter", "RandomGrayscale", "Grayscale", "RandomAutocontrast",
    "RandomEqualize", "RandomPosterize", "RandomSolarize", "RandomAdjustSharpness",
    "RandomInvert", "GaussianBlur", "GaussianNoise", "RandomErasing", "AutoAugment",
    "RandAugment", "AugMix", "TrivialAugmentWide", "MixUp", "CutMix",
}  # fmt: skip
PER_IMAGE = [e.name for e in CATALOG if not e.needs_second_image]


def _image(c: int = 3, h: int = 48, w: int = 64, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (c, h, w), dtype=torch.uint8, generator=g)


def _other_value(p: ParamInfo):
    """A valid value different from the lab default, built from the ranges alone."""
    if p.kind == "bool":
        return not p.default
    if p.kind == "choice":
        return next(c for c in reversed(p.choices) if c != p.default)
    if p.kind == "size":
        return (p.min + 2 * p.step, p.min + 4 * p.step)  # odd kernels stay odd
    if p.kind == "int":
        return (p.min + p.max) // 2 if (p.min + p.max) // 2 != p.default else p.min
    lo, hi = p.min, p.max
    if p.kind == "float":
        return lo + (hi - lo) * 0.3
    return (lo + (hi - lo) * 0.25, lo + (hi - lo) * 0.75)


def test_catalogue_covers_the_course_with_real_parameters():
    assert {e.name for e in CATALOG} == BRIEF_NAMES
    for entry in CATALOG:
        real = set(inspect.signature(getattr(v2, entry.name).__init__).parameters)
        assert set(entry.param_names) <= real, entry.name
        assert catalog_entry(entry.name) is entry
        for p in entry.params:
            if p.kind in ("float", "int", "range"):
                assert p.min is not None and p.max is not None and p.min < p.max, p


@pytest.mark.parametrize("name", sorted(BRIEF_NAMES))
def test_round_trip_defaults_and_other_values(name):
    entry = catalog_entry(name)
    fresh = AugmentSpec((default_call(name),))
    assert parse_spec(format_spec(fresh)) == fresh
    explicit = AugmentSpec((make_call(name, {p.name: p.default for p in entry.params}),))
    assert parse_spec(format_spec(explicit)) == explicit
    other = {p.name: _other_value(p) for p in entry.params}
    changed = AugmentSpec((make_call(name, other),))
    assert changed != explicit or not entry.params
    assert parse_spec(format_spec(changed)) == changed
    # Constructing torchvision from the canonical text by hand gives the same object.
    assert repr(build_pipeline(changed).transforms[0]) == repr(
        build_pipeline(parse_spec(format_spec(changed))).transforms[0]
    )


def test_parse_brief_example_and_scalar_forms():
    spec = parse_spec(
        "RandomHorizontalFlip(p=1.0); RandomRotation(degrees=[30, 30]); ColorJitter(brightness=0.4)"
    )
    assert spec.names == ("RandomHorizontalFlip", "RandomRotation", "ColorJitter")
    assert spec.calls[1].get("degrees") == (30.0, 30.0)
    assert spec.calls[2].get("brightness") == 0.4
    assert format_spec(spec) == (
        "RandomHorizontalFlip(p=1.0); RandomRotation(degrees=[30.0, 30.0]); "
        "ColorJitter(brightness=0.4)"
    )
    assert parse_spec("  ;\n ") == AugmentSpec()
    pasted = "v2.RandomRotation(degrees=30.0, interpolation=v2.InterpolationMode.BILINEAR),"
    assert parse_spec(pasted) == parse_spec("RandomRotation(interpolation='bilinear', degrees=30)")
    tv = build_pipeline(
        parse_spec("AutoAugment(policy='svhn', interpolation='bilinear')")
    ).transforms[0]
    assert tv.policy == v2.AutoAugmentPolicy.SVHN
    assert tv.interpolation == v2.InterpolationMode.BILINEAR


def test_torchvision_rejections_are_spec_errors_when_the_pipeline_is_built():
    spec = parse_spec("GaussianBlur(kernel_size=4)")  # parses: only torchvision knows
    with pytest.raises(SpecError, match="GaussianBlur: torchvision rejects"):
        build_pipeline(spec)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("RandomHorizontalFlip(p=1); RandomFlip(p=1)",
         "unknown transform 'RandomFlip' in part 2: \"RandomFlip(p=1)\""),
        ("RandomRotation(angle=3)",
         "RandomRotation: unknown parameter 'angle' (valid: degrees, interpolation, expand, "
         "center, fill)"),
        ("RandomRotation(30)", "RandomRotation: positional argument '30' in part 1"),
        ("Resize(size=8); RandomRotation(degrees=[30, 30]", "syntax error in part 2"),
        ("RandomHorizontalFlip(p=1.5)", "RandomHorizontalFlip: p value 1.5 is outside"),
        ("RandomHorizontalFlip(p='x')", "RandomHorizontalFlip: p must be a number"),
        ("RandomHorizontalFlip(p=None)", "RandomHorizontalFlip: p must be given"),
        ("RandomRotation(degrees=[1, 2, 3])", "RandomRotation: degrees must be a number or"),
        ("RandomRotation(degrees=[30, 10])", "RandomRotation: degrees must be [lo, hi]"),
        ("RandomRotation(degrees=5, interpolation='cubic')",
         "RandomRotation: interpolation must be one of"),
        ("RandomPosterize(bits=2.5)", "RandomPosterize: bits must be an integer"),
        ("RandomRotation(expand=1, degrees=3)", "RandomRotation: expand must be True or False"),
        ("RandomRotation()", "RandomRotation: missing required parameter 'degrees'"),
        ("RandAugment(magnitude=40)", "RandAugment: magnitude (40) must be below"),
        ("RandomHorizontalFlip(**{'p': 1})", "RandomHorizontalFlip: '**{'p': 1}' is not allowed"),
        ("lambda: 1", 'not a transform call like Name(key=value) in part 1: "lambda: 1"'),
        ("Resize(size=8); os.system('x')", "unknown transform 'os.system' in part 2"),
        ("exec('1')", "unknown transform 'exec' in part 1"),
        ("__import__('os').system('x')", "a transform must be called by its name in part 1"),
        ("RandomHorizontalFlip(p=__import__('os').system('x'))",
         "RandomHorizontalFlip: p must be a literal"),
        ("RandomInvert(p=1.0)" + " " * 10_001, "spec is too long"),
        ("RandomHorizontalFlip(p=1e999)", "RandomHorizontalFlip: p must be a number"),
        ("RandomHorizontalFlip(p=10**400)", "RandomHorizontalFlip: p must be a literal"),
        ("RandomHorizontalFlip(p=" + "9" * 400 + ")", "a number of 400 characters is too long"),
        ("RandomRotation(degrees=" + "9" * 5000 + ")",
         "a number of 5000 characters is too long (at most 50) in part 1"),
    ],
)  # fmt: skip
def test_spec_errors_name_the_bad_part(text, expected, monkeypatch):
    calls = []
    monkeypatch.setattr(os, "system", lambda cmd: calls.append(cmd))
    with pytest.raises(SpecError) as info:
        parse_spec(text)
    assert expected in str(info.value)
    assert calls == []


def _rotate30(x):
    return F.rotate(x, 30.0)


DETERMINISTIC = [
    ("RandomHorizontalFlip(p=1.0)", lambda x: x.flip(-1)),
    ("RandomVerticalFlip(p=1.0)", F.vertical_flip),
    ("RandomRotation(degrees=[30, 30])", _rotate30),
    ("ColorJitter(brightness=[1.4, 1.4])", lambda x: F.adjust_brightness(x, 1.4)),
    ("Grayscale(num_output_channels=3)", lambda x: F.rgb_to_grayscale(x, 3)),
    ("Grayscale()", lambda x: F.rgb_to_grayscale(x, 1).expand(3, -1, -1)),
    ("RandomInvert(p=1.0)", lambda x: 255 - x),
    ("GaussianBlur(kernel_size=9, sigma=1.5)", lambda x: F.gaussian_blur(x, [9, 9], [1.5, 1.5])),
    ("CenterCrop(size=20)", lambda x: x[:, 14:34, 22:42]),
    ("Resize(size=[20, 30])", lambda x: F.resize(x, [20, 30], antialias=True)),
    ("RandomSolarize(threshold=100.0, p=1.0)", lambda x: torch.where(x >= 100, 255 - x, x)),
    ("RandomPosterize(bits=2, p=1.0)", lambda x: x & 0b11000000),
    ("RandomEqualize(p=1.0)", F.equalize),
    ("RandomAutocontrast(p=1.0)", F.autocontrast),
    (
        "RandomHorizontalFlip(p=1.0); RandomRotation(degrees=[30, 30]); "
        "ColorJitter(brightness=[1.4, 1.4])",
        lambda x: F.adjust_brightness(_rotate30(F.horizontal_flip(x)), 1.4),
    ),
]


@pytest.mark.parametrize(("text", "reference"), DETERMINISTIC, ids=[t for t, _ in DETERMINISTIC])
def test_deterministic_specs_match_torchvision_functional(text, reference):
    img = _image()
    for seed in (0, 7):
        out = build_pipeline(parse_spec(text)).apply(img, seed=seed)
        assert out.image.dtype == torch.uint8 and type(out.image) is torch.Tensor
        assert torch.equal(out.image, reference(img).as_subclass(torch.Tensor))
        assert out.mix_weights is None and out.steps[0].startswith(text.split("(")[0])


def test_identity_and_input_forms():
    img = _image()
    assert torch.equal(build_pipeline(parse_spec("")).apply(img, seed=3).image, img)
    rgb = Image.fromarray(img.permute(1, 2, 0).numpy())
    flipped = build_pipeline(parse_spec("RandomHorizontalFlip(p=1.0)")).apply(rgb, seed=0).image
    assert np.array_equal(flipped.permute(1, 2, 0).numpy(), np.asarray(rgb)[:, ::-1])
    grey = build_pipeline(parse_spec("")).apply(rgb.convert("L"), seed=0).image  # PIL "L" → RGB
    assert grey.shape == (3, 48, 64) and torch.equal(grey[0], grey[2])
    as_float = build_pipeline(parse_spec("")).apply(img.float() / 255, seed=0).image
    assert torch.equal(as_float, img)


RANDOM_SPECS = [
    "RandomResizedCrop(size=32)",
    "RandomCrop(size=32)",
    "RandomHorizontalFlip(p=0.5)",
    "RandomRotation(degrees=[-30, 30])",
    "RandomPerspective(p=1.0)",
    format_spec(AugmentSpec((default_call("RandomAffine"),))),
    "ElasticTransform(alpha=80.0)",
    format_spec(AugmentSpec((default_call("ColorJitter"),))),
    "RandomGrayscale(p=0.5)",
    "GaussianBlur(kernel_size=9, sigma=[0.5, 3.0])",
    "GaussianNoise()",
    "RandomErasing(p=1.0)",
    "AutoAugment()",
    "RandAugment()",
    "AugMix()",
    "TrivialAugmentWide()",
]


@pytest.mark.parametrize("text", RANDOM_SPECS)
def test_seeded_random_specs_reproduce_and_vary(text):
    pipe = build_pipeline(parse_spec(text))
    img = _image()
    torch_state, py_state = torch.get_rng_state(), random.getstate()
    first = pipe.apply(img, seed=11).image
    assert torch.equal(torch.get_rng_state(), torch_state) and random.getstate() == py_state
    assert torch.equal(pipe.apply(img, seed=11).image, first)
    others = [pipe.apply(img, seed=s).image for s in range(12, 20)]
    assert any(o.shape != first.shape or not torch.equal(o, first) for o in others)


def test_removing_an_earlier_transform_keeps_a_later_draw():
    img = _image(h=40, w=40)
    rotate = "RandomRotation(degrees=[-45, 45])"  # nearest: commutes with greyscale exactly
    for seed in (1, 2, 3):
        with_grey = build_pipeline(parse_spec(f"RandomGrayscale(p=1.0); {rotate}")).apply(
            img, seed=seed
        )
        alone = build_pipeline(parse_spec(rotate)).apply(img, seed=seed)
        assert not torch.equal(alone.image, img)
        assert torch.equal(with_grey.image, F.rgb_to_grayscale(alone.image, 3))
    # The check can fail: another seed draws another angle.
    other = build_pipeline(parse_spec(rotate)).apply(img, seed=4).image
    assert not torch.equal(with_grey.image, F.rgb_to_grayscale(other, 3))


def test_gaussian_noise_has_the_requested_spread():
    img = torch.full((3, 200, 200), 128, dtype=torch.uint8)
    out = build_pipeline(parse_spec("GaussianNoise(sigma=0.1)")).apply(img, seed=5).image
    diff = out.double() - 128.0
    assert abs(diff.mean().item()) < 1.0
    assert abs(diff.std().item() - 25.5) < 1.0


def test_mixup_weights_sum_to_one_and_match_the_pixels():
    a, b = _image(seed=1), _image(seed=2)
    lams = set()
    for seed in range(5):
        out = build_pipeline(parse_spec("MixUp(alpha=1.0)")).apply(a, seed=seed, mix_with=b)
        wa, wb = out.mix_weights
        assert wa + wb == pytest.approx(1.0, abs=1e-12)
        expected = (wa * a.double() + (1.0 - wa) * b.double()).round().to(torch.uint8)
        assert torch.equal(out.image, expected)
        lams.add(round(wa, 6))
    assert len(lams) == 5
    with pytest.raises(SpecError, match="MixUp needs a second image"):
        build_pipeline(parse_spec("MixUp()")).apply(a, seed=0)


def test_mixup_resizes_the_second_image_and_chains():
    a = _image()
    b = Image.new("RGB", (17, 9), (200, 30, 90))
    out = build_pipeline(parse_spec("MixUp(alpha=2.0)")).apply(a, seed=3, mix_with=b)
    colour = torch.tensor([200.0, 30.0, 90.0], dtype=torch.float64).view(3, 1, 1)
    wa = out.mix_weights[0]
    assert torch.equal(out.image, (wa * a.double() + (1 - wa) * colour).round().to(torch.uint8))
    twice = build_pipeline(parse_spec("MixUp(); MixUp()")).apply(a, seed=3, mix_with=b)
    wa, wb = twice.mix_weights
    assert wa + wb == pytest.approx(1.0)
    approx = wa * a.double() + wb * colour
    assert (twice.image.double() - approx).abs().max() <= 1.0


def test_cutmix_weights_equal_the_pasted_area():
    a = torch.full((3, 40, 60), 10, dtype=torch.uint8)
    b = torch.full((3, 20, 20), 200, dtype=torch.uint8)
    partial = 0
    for seed in range(8):
        out = build_pipeline(parse_spec("CutMix(alpha=1.0)")).apply(a, seed=seed, mix_with=b)
        wa, wb = out.mix_weights
        assert wa + wb == pytest.approx(1.0, abs=1e-12)
        pasted = out.image[0] == 200
        assert set(out.image.unique().tolist()) <= {10, 200}
        assert pasted.double().mean().item() == pytest.approx(wb, abs=1e-12)
        if pasted.any():
            rows, cols = pasted.any(1).nonzero(), pasted.any(0).nonzero()
            box = (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)
            assert box.item() == pasted.sum().item()  # one rectangle
            partial += 0 < wb < 1
    assert partial >= 3


def test_failures_while_augmenting_become_spec_errors():
    with pytest.raises(SpecError, match="RandomCrop failed on this image"):
        build_pipeline(parse_spec("RandomCrop(size=100, pad_if_needed=False)")).apply(
            _image(), seed=0
        )


def _exec(code: str) -> dict:
    namespace: dict = {}
    exec(compile(code, "<to_python>", "exec"), namespace)  # test only: generated code
    return namespace


def test_to_python_builds_the_same_transforms():
    spec = AugmentSpec(tuple(default_call(n) for n in PER_IMAGE))
    code = to_python(spec)
    assert code.startswith("from torchvision.transforms import v2\n\ntransform = v2.Compose([\n")
    namespace = _exec(code)
    assert repr(namespace["transform"]) == repr(build_pipeline(spec).compose())
    # Deterministic transforms also agree on pixels.
    text = "RandomHorizontalFlip(p=1.0); RandomRotation(degrees=[30, 30], interpolation='bilinear')"
    img = _image()
    ours = build_pipeline(parse_spec(text)).apply(img, seed=0).image
    theirs = _exec(to_python(parse_spec(text)))["transform"](img)
    assert torch.equal(ours, theirs)


def test_to_python_puts_mixing_in_a_batch_transform():
    namespace = _exec(to_python(parse_spec("RandomInvert(p=1.0); CutMix(alpha=0.3)")))
    assert repr(namespace["transform"]) == repr(v2.Compose([v2.RandomInvert(p=1.0)]))
    batch = namespace["batch_transform"]
    assert isinstance(batch, v2.CutMix) and batch.alpha == 0.3 and batch.num_classes == 1000
    assert isinstance(_exec(to_python(AugmentSpec()))["transform"], v2.Identity)


def test_scalar_ranges_read_like_torchvision():
    cases = [
        ("ColorJitter", "brightness", 0.4, "brightness"),
        ("ColorJitter", "hue", 0.2, "hue"),
        ("RandomRotation", "degrees", 30, "degrees"),
        ("GaussianBlur", "sigma", 2.0, "sigma"),
        ("RandomAffine", "shear", 10, "shear"),
    ]
    for name, param, value, attribute in cases:
        required = {"RandomAffine": {"degrees": 0}, "GaussianBlur": {"kernel_size": 5}}
        call = make_call(name, {param: value, **required.get(name, {})})
        ours = range_from_scalar(catalog_entry(name).param(param), value)
        theirs = getattr(build_pipeline(AugmentSpec((call,))).transforms[0], attribute)
        assert ours == pytest.approx(tuple(theirs)), (name, param)
    with pytest.raises(ValueError):
        range_from_scalar(catalog_entry("RandomResizedCrop").param("scale"), 0.5)
    assert hash(parse_spec("RandomRotation(degrees=[1, 2], center=[3, 4])"))  # usable as a key


def test_recorded_torchvision_defaults_equal_the_installed_signatures():
    import enum
    import inspect

    from torchvision.transforms import v2

    from cnnviz.core.augment.catalog import CATALOG, REQUIRED, TORCHVISION_DEFAULTS

    for entry in CATALOG:
        params = inspect.signature(getattr(v2, entry.name).__init__).parameters
        actual = {
            k: (REQUIRED if p.default is inspect.Parameter.empty else p.default)
            for k, p in params.items()
            if k != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        }
        actual = {k: v.value if isinstance(v, enum.Enum) else v for k, v in actual.items()}
        assert TORCHVISION_DEFAULTS[entry.name] == actual, entry.name


@pytest.mark.parametrize(
    "text",
    [
        "RandomRotation(degrees=[-40, 40])",
        "RandomRotation(degrees=[25, 25], expand=True)",
        "RandomAffine(degrees=[-20, 20], translate=[0.1, 0.2], scale=[0.8, 1.2])",
        "RandomPerspective(distortion_scale=0.4, interpolation='nearest')",
        "RandomRotation(degrees=[10, 10], interpolation='bilinear')",  # keeps its fill
    ],
)
def test_the_faster_black_fill_gives_torchvisions_own_pixels(text):
    """cnnviz skips torchvision's fill blend where it cannot change a pixel; compare with
    torchvision's own transform built with the catalogue's fill=0, same seed."""
    spec = parse_spec(text)
    call = spec.calls[0]
    kwargs = {k: list(v) if isinstance(v, tuple) else v for k, v in call.kwargs}
    if "interpolation" in kwargs:
        kwargs["interpolation"] = v2.InterpolationMode(kwargs["interpolation"])
    reference = getattr(v2, call.name)(**{**kwargs, "fill": 0})
    img = _image()
    pipeline = build_pipeline(spec)
    for seed in range(3):
        ours = pipeline.apply(img, seed=seed).image
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(transform_seed(seed, call.name, 0))
            expected = reference(tv_tensors.Image(img)).as_subclass(torch.Tensor)
        assert torch.equal(ours, expected)
