"""Comparing architectures and true labels: facts against torchvision's metadata and the
papers, each model's top-5 against its own predict, ranks against a hand sort."""

from __future__ import annotations

import weakref

import numpy as np
import pytest
from torchvision.datasets.imagenette import Imagenette
from torchvision.models import AlexNet_Weights, ResNet18_Weights, ResNet50_Weights

from cnnviz.core.augment.lab import ranks_of, run_lab
from cnnviz.core.augment.spec import parse_spec
from cnnviz.core.compare import arch_facts, compare, error_chart
from cnnviz.core.compare.facts import ChartAxisError
from cnnviz.core.engine import Engine
from cnnviz.core.images import load_image
from cnnviz.core.labels import (
    LabelError,
    class_index,
    imagenet_wnids,
    rank_of,
    sample_label,
    sample_labels,
    search_classes,
    truth_of,
)
from cnnviz.core.zoo.models.lenet import DIGIT_CLASSES
from cnnviz.core.zoo.registry import all_archs

CATEGORIES = tuple(ResNet18_Weights.IMAGENET1K_V1.meta["categories"])


@pytest.fixture(scope="module")
def hopper(samples_dir):
    return load_image(samples_dir / "grace_hopper.jpg")


@pytest.fixture(scope="module")
def lenet() -> Engine:
    return Engine.load("lenet5", device="cpu")


# --- facts -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arch", "weights"),
    [("resnet18", ResNet18_Weights.IMAGENET1K_V1), ("alexnet", AlexNet_Weights.IMAGENET1K_V1)],
)
def test_macs_match_torchvisions_published_ops(arch, weights) -> None:
    # torchvision's `_ops` ("GFLOPS") counts one multiply-add as one operation.
    assert arch_facts(arch).macs / 1e9 == pytest.approx(weights.meta["_ops"], rel=0.02)


def test_depth_counts_conv_and_linear_layers_as_the_papers_do() -> None:
    assert arch_facts("alexnet").depth == 5 + 3  # five conv, three fully connected
    assert arch_facts("vgg16").depth == 13 + 3
    assert arch_facts("vgg19").depth == 16 + 3
    # ResNet-18: 17 convs + the fc counted in its name, plus 3 projection shortcuts.
    assert arch_facts("resnet18").depth == 18 + 3
    assert arch_facts("lenet5").depth == 2 + 3  # C1, C3 and F5 (a conv in the paper), F6, out


def test_published_accuracy_params_and_weights_availability() -> None:
    resnet50 = arch_facts("resnet50")
    metrics = ResNet50_Weights.DEFAULT.meta["_metrics"]["ImageNet-1K"]
    assert (resnet50.top1_accuracy, resnet50.top5_accuracy) == (metrics["acc@1"], metrics["acc@5"])
    assert resnet50.published_top1_error == pytest.approx(100 - metrics["acc@1"])
    assert resnet50.accuracy_weights == "ResNet50_Weights.IMAGENET1K_V2"
    assert resnet50.params == ResNet50_Weights.DEFAULT.meta["num_params"]
    assert not resnet50.weights_real  # the test's torch cache is empty: only downloadable
    lite = arch_facts("efficientnet_lite0")
    assert lite.top1_accuracy is None and lite.weights_real and lite.weights == "offline"
    assert arch_facts("lenet5").top1_accuracy is None
    assert lite.as_dict()["accuracy_source"] is None


def test_error_chart_points_highlights_and_axes() -> None:
    chart = error_chart("macs", highlight=["resnet18", "lenet5"])
    by_name = {p.name: p for p in chart.points}
    from_torchvision = {n for n, s in all_archs().items() if s.torchvision_weights is not None}
    assert set(by_name) == from_torchvision
    assert set(chart.left_out) == set(all_archs()) - from_torchvision
    assert [n for n, p in by_name.items() if p.highlighted] == ["resnet18"]
    assert by_name["resnet18"].x == pytest.approx(ResNet18_Weights.IMAGENET1K_V1.meta["_ops"], 0.02)
    assert by_name["vgg16"].top1_error == pytest.approx(100 - 71.592)
    assert [p.x for p in chart.points] == sorted(p.x for p in chart.points) and chart.log_x
    assert error_chart("depth").points[0].x <= error_chart("depth").points[-1].x
    assert {p.x for p in error_chart("year").points} >= {2012.0, 2015.0, 2022.0}
    with pytest.raises(ChartAxisError):
        error_chart("weight")


# --- compare ---------------------------------------------------------------------------------


def test_each_models_top5_is_its_own_predict_and_engines_stay_loaded(
    lite_engine, lenet, hopper
) -> None:
    progress: list[tuple[int, int]] = []
    result = compare(
        [lite_engine, "lenet5"],
        hopper,
        true_label="military uniform",
        progress=lambda *a: progress.append(a),
    )
    assert [r.name for r in result.runs] == ["efficientnet_lite0", "lenet5"]
    assert result.runs[0].top == lite_engine.predict(hopper).top
    assert result.runs[1].top == lenet.predict(hopper).top
    assert progress == [(1, 2), (2, 2)] and not result.cancelled
    # The true class: rank and probability from the full vector, None for LeNet's digits.
    probs = lite_engine.predict(hopper).probabilities
    order = sorted(range(len(probs)), key=lambda i: (-probs[i], i))
    truth = result.runs[0].truth
    assert truth.rank == order.index(CATEGORIES.index("military uniform")) + 1
    assert truth.top5_hit == (truth.rank <= 5) and truth.top1_hit == (truth.rank == 1)
    assert result.runs[1].truth is None
    # Agreement: LeNet's digits share nothing with ImageNet classes.
    assert result.shared_labels == () and result.top1_differs
    assert result.runs[0].facts.name == "efficientnet_lite0" and result.runs[0].forward_ms > 0
    assert lite_engine.model is not None and lite_engine.predict(hopper).top == result.runs[0].top


def test_augmented_compare_feeds_every_model_what_predict_augment_feeds(
    lite_engine, lenet, hopper
) -> None:
    spec = "RandomRotation(degrees=[-40, 40]); ColorJitter(brightness=[0.6, 1.4])"
    result = compare([lenet, lite_engine], hopper, augment=spec, seed=7)
    assert result.runs[0].top == run_lab(lenet, hopper, parse_spec(spec), seed=7).prediction.top
    lab = run_lab(lite_engine, hopper, parse_spec(spec), seed=7)
    assert result.runs[1].top == lab.prediction.top
    assert np.array_equal(result.augmented_image, lab.augmented_image)  # under 1024 px
    assert result.as_dict()["augment"] == {"spec": lab.spec_text, "seed": 7}


def test_shared_classes_and_votes_by_hand(lite_engine, samples_dir) -> None:
    cat = load_image(samples_dir / "cat.jpg")
    result = compare([lite_engine, "efficientnet_lite1"], cat)
    a, b = ([c.label for c in r.top] for r in result.runs)
    assert result.shared_labels == tuple(label for label in a if label in b)
    assert len(result.shared_labels) >= 2  # both see cats
    assert {label for label, n in result.label_votes} == set(result.shared_labels)
    assert result.top1_differs == (a[0] != b[0])


def test_models_named_by_architecture_are_freed_before_the_next_loads(monkeypatch, hopper):
    models: list[weakref.ref] = []
    alive_at_load: list[int] = []
    real_load = Engine.load

    def load(*args, **kwargs):
        alive_at_load.append(sum(ref() is not None for ref in models))
        engine = real_load(*args, **kwargs)
        models.append(weakref.ref(engine.model))
        return engine

    monkeypatch.setattr(Engine, "load", load)
    result = compare(["lenet5", "lenet5", "lenet5"], hopper)
    assert len(result.runs) == 3 and alive_at_load == [0, 0, 0]
    assert all(ref() is None for ref in models)


def test_cancel_after_the_first_model(lite_engine, lenet, hopper) -> None:
    calls = iter([False, True])
    result = compare([lenet, lite_engine], hopper, cancelled=lambda: next(calls))
    assert result.cancelled and [r.name for r in result.runs] == ["lenet5"]
    assert result.requested == ("lenet5", "efficientnet_lite0")


def test_unknown_true_label_for_every_model_is_a_user_error(lenet, hopper) -> None:
    with pytest.raises(LabelError):
        compare([lenet], hopper, true_label="tabby")


# --- true label, ranks, search -----------------------------------------------------------------


def test_rank_equals_the_position_in_a_hand_sorted_probability_vector(lite_engine, hopper) -> None:
    probs = lite_engine.predict(hopper).probabilities
    order = sorted(range(len(probs)), key=lambda i: (-float(probs[i]), i))
    for index in (order[0], order[4], order[5], order[500], order[-1], 652):
        assert rank_of(probs, index) == order.index(index) + 1
    ranks = ranks_of(probs)
    assert all(rank_of(probs, i) == ranks[i] for i in range(0, 1000, 37))
    truth = truth_of(probs, order[7], CATEGORIES)
    assert truth.rank == 8 and not truth.top5_hit and truth.probability == float(probs[order[7]])


def test_ties_rank_by_class_index() -> None:
    p = np.array([0.2, 0.5, 0.2, 0.1], dtype=np.float32)
    assert [rank_of(p, i) for i in range(4)] == [2, 1, 3, 4]
    with pytest.raises(IndexError):
        rank_of(p, 4)


def test_class_search_is_a_case_insensitive_substring_search() -> None:
    found = search_classes(CATEGORIES, "CAT")
    assert {label for _, label in found} == {c for c in CATEGORIES if "cat" in c.lower()}
    assert search_classes(CATEGORIES, "Tabby")[0] == (281, "tabby")
    assert search_classes(CATEGORIES, "tiger")[0][1] == "tiger"  # the exact name first
    assert len(search_classes(CATEGORIES, "")) == 1000
    assert search_classes(DIGIT_CLASSES, "7") == ((7, "7"),)


def test_class_index_by_name_or_wordnet_id() -> None:
    assert class_index(CATEGORIES, "military_uniform") == 652
    assert class_index(CATEGORIES, " Tabby ") == 281
    assert class_index(CATEGORIES, "n01440764") == CATEGORIES.index("tench")
    for bad in ("n99999999", "no such class"):
        with pytest.raises(LabelError):
            class_index(CATEGORIES, bad)
    with pytest.raises(LabelError, match="WordNet"):
        class_index(DIGIT_CLASSES, "n01440764")


def test_bundled_wordnet_ids_agree_with_torchvisions_imagenette() -> None:
    wnids = imagenet_wnids()
    assert len(set(wnids)) == 1000 and list(wnids) == sorted(wnids)
    for wnid, names in Imagenette._WNID_TO_CLASS.items():
        assert CATEGORIES[wnids.index(wnid)] == names[0]


def test_every_sample_has_a_true_label_of_its_models_classes_or_a_note(tmp_path) -> None:
    from cnnviz.resources_path import samples_dir as installed_samples

    samples_dir = installed_samples()  # the samples the package reads, installed or not
    labels = sample_labels()
    assert len(labels) == 17
    for label in labels:
        classes = CATEGORIES if label.kind == "photo" else DIGIT_CLASSES
        assert label.true_label in classes or (label.true_label is None and "no " in label.note)
    assert sample_label(samples_dir / "cat.jpg").true_label == "tabby"
    assert sample_label(samples_dir / "digits" / "digit_3.png").true_label == "3"
    astronaut = sample_label(samples_dir / "astronaut.jpg")
    assert astronaut.true_label is None and "no class for a person" in astronaut.note
    assert sample_label(samples_dir / "samples.json") is None
    # A copy elsewhere is the same sample; a different picture of the same size is not.
    copy = tmp_path / "my_cat.jpg"
    copy.write_bytes((samples_dir / "cat.jpg").read_bytes())
    assert sample_label(copy).true_label == "tabby"
    other = bytearray(copy.read_bytes())
    other[-3] ^= 0xFF
    copy.write_bytes(bytes(other))
    assert sample_label(copy) is None
