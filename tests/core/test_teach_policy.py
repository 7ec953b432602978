"""What a random policy drew equals torchvision's own draws under the same seed."""

from __future__ import annotations

import pytest
import torch
from torchvision import tv_tensors
from torchvision.transforms import v2

from cnnviz.core.augment.pipeline import build_pipeline
from cnnviz.core.augment.spec import parse_spec
from cnnviz.core.teach.policy import draw, drawn_in_pipeline, drawn_list

SEEDS = range(12)


@pytest.fixture(scope="module")
def image() -> tv_tensors.Image:
    g = torch.Generator().manual_seed(5)
    base = torch.randint(0, 256, (3, 12, 16), generator=g, dtype=torch.uint8).float()
    big = torch.nn.functional.interpolate(base[None], size=(48, 64), mode="bilinear")[0]
    return tv_tensors.Image(big.round().clamp(0, 255).to(torch.uint8))


def _op(t: v2.Transform, img: torch.Tensor, name: str, magnitude: float) -> torch.Tensor:
    # torchvision's own operation, called through the class (not the recorded instance).
    return type(t)._apply_image_or_video_transform(
        t, img, name, magnitude, interpolation=t.interpolation, fill=t._fill
    )


def _seeded(t: v2.Transform, img: torch.Tensor, seed: int) -> torch.Tensor:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return t(img)


@pytest.mark.parametrize(
    "make",
    [
        lambda: v2.TrivialAugmentWide(),
        lambda: v2.RandAugment(num_ops=3, magnitude=12),
        lambda: v2.AutoAugment(v2.AutoAugmentPolicy.IMAGENET),
        lambda: v2.AutoAugment(v2.AutoAugmentPolicy.SVHN),
    ],
    ids=["trivial", "randaugment", "autoaugment-imagenet", "autoaugment-svhn"],
)
def test_recorded_ops_reproduce_torchvisions_output(make, image):
    t = make()
    for seed in SEEDS:
        plain = _seeded(t, image, seed)  # torchvision alone, no recording
        out, drawn = draw(t, image, seed=seed)
        assert torch.equal(out, plain)  # recording changes nothing
        redone = image
        for op in drawn.ops:
            redone = _op(t, redone, op.operation, op.magnitude)
        assert torch.equal(redone, plain), (seed, drawn.summary())
    assert "_apply_image_or_video_transform" not in vars(t)  # the instance is restored


def test_trivial_augment_draws_match_an_independent_sampler(image):
    t = v2.TrivialAugmentWide()
    space = list(t._AUGMENTATION_SPACE)
    seen = set()
    for seed in range(40):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            name = space[int(torch.randint(len(space), ()))]
            fn, signed = t._AUGMENTATION_SPACE[name]
            mags = fn(31, 48, 64)
            magnitude = 0.0
            if mags is not None:
                magnitude = float(mags[int(torch.randint(31, ()))])
                if signed and torch.rand(()) <= 0.5:
                    magnitude = -magnitude
        _, drawn = draw(t, image, seed=seed)
        assert [(o.operation, o.magnitude) for o in drawn.ops] == [(name, magnitude)]
        seen.add(name)
    assert len(seen) > 5


def test_randaugment_draws_num_ops_at_the_fixed_magnitude(image):
    t = v2.RandAugment(num_ops=2, magnitude=9)
    _, drawn = draw(t, image, seed=3)
    assert len(drawn.ops) == 2
    for op in drawn.ops:
        fn, _ = t._AUGMENTATION_SPACE[op.operation]
        mags = fn(31, 48, 64)
        expected = 0.0 if mags is None else float(mags[9])
        assert abs(op.magnitude) == pytest.approx(expected)


def test_augmix_chains_and_weights_reproduce_the_mix(image):
    t = v2.AugMix(severity=3, mixture_width=3)
    for seed in SEEDS:
        plain = _seeded(t, image, seed)
        out, drawn = draw(t, image, seed=seed)
        assert torch.equal(out, plain)
        assert len(drawn.chain_weights) == 3
        assert drawn.original_weight + sum(drawn.chain_weights) == pytest.approx(1.0, abs=1e-5)
        batch = image.as_subclass(torch.Tensor).reshape(1, 3, 48, 64)
        mix = torch.tensor([drawn.original_weight]).reshape(1, 1, 1, 1) * batch
        for i, w in enumerate(drawn.chain_weights):
            aug = batch
            chain = [o for o in drawn.ops if o.chain == i]
            assert 1 <= len(chain) <= 3
            for op in chain:
                aug = _op(t, aug, op.operation, op.magnitude)
                assert op.chain_weight == w
            mix.add_(torch.tensor([w]).reshape(1, 1, 1, 1) * aug)
        assert torch.equal(mix.reshape(3, 48, 64).to(torch.uint8), plain.as_subclass(torch.Tensor))


def test_pipeline_draws_are_the_labs_and_deterministic_steps_draw_nothing(image):
    spec = parse_spec("RandomHorizontalFlip(p=1.0); TrivialAugmentWide(); RandAugment()")
    draws = drawn_in_pipeline(spec, image, seed=7)
    assert [d.step for d in draws] == [1, 2]
    # Reproduce the lab's output from the flip and the recorded ops alone.
    pipeline = build_pipeline(spec)
    lab = pipeline.apply(image, seed=7).image
    x = image.flip(-1)
    for d, t in zip(draws, pipeline.transforms[1:], strict=True):
        for op in d.ops:
            x = _op(t, x, op.operation, op.magnitude)
    assert torch.equal(x.as_subclass(torch.Tensor), lab)
    items = drawn_list(draws)
    assert len(items) == 3 and {i["transform"] for i in items} == {
        "TrivialAugmentWide",
        "RandAugment",
    }
    assert drawn_in_pipeline(parse_spec("RandomRotation(degrees=[10, 10])"), image, seed=1) == ()


def test_crop_boxes_are_where_the_lab_cut(image):
    from torchvision.transforms.v2 import functional as F

    from cnnviz.core.teach.policy import crop_boxes_in_pipeline

    spec = parse_spec("RandomResizedCrop(size=[16, 16]); RandomCrop(size=[8, 8], padding=2)")
    boxes = crop_boxes_in_pipeline(spec, image, seed=3)
    assert [b.transform for b in boxes] == ["RandomResizedCrop", "RandomCrop"]
    first, second = boxes
    assert first.on_original and first.input_size == (48, 64) and not second.on_original
    # Redo the pipeline by hand from the boxes: crop + resize, then pad + crop.
    lab = build_pipeline(spec).apply(image, seed=3).image
    x = F.resized_crop(
        image, first.top, first.left, first.height, first.width, [16, 16], antialias=True
    )
    x = F.pad(x, [2, 2, 2, 2])
    x = F.crop(x, second.top + 2, second.left + 2, second.height, second.width)
    assert torch.equal(x.as_subclass(torch.Tensor), lab)
