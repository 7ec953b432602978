"""`cnnviz compare` and `cnnviz eval`: JSON shapes, agreement with `predict`, one-line errors."""

from __future__ import annotations

import argparse
import json
import os
import shutil

import pytest

from cnnviz.cli import build_parser, main
from cnnviz.core.engine import Engine
from cnnviz.core.images import load_image


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def digit_set(tmp_path_factory, samples_dir):
    root = tmp_path_factory.mktemp("digits")
    for k in range(10):
        (root / str(k)).mkdir()
        shutil.copy(samples_dir / "digits" / f"digit_{k}.png", root / str(k) / "d.png")
    # Misfiled: a 7 in the 1 folder. Unreadable: a truncated PNG.
    shutil.copy(samples_dir / "digits" / "digit_7.png", root / "1" / "seven.png")
    (root / "2" / "broken.png").write_bytes(
        (samples_dir / "digits" / "digit_2.png").read_bytes()[:40]
    )
    (root / "tabby").mkdir()
    return root


def test_compare_json_holds_each_models_predict_predictions_and_facts(capsys, samples_dir):
    image = str(samples_dir / "grace_hopper.jpg")
    code, out, err = run(
        capsys, "compare", image, "--archs", "efficientnet_lite0,lenet5", "--device", "cpu",
        "--json", "--true-label", "military uniform",
    )  # fmt: skip
    assert code == 0 and err == ""
    (line,) = out.splitlines()
    result = json.loads(line)
    assert result["image"] == image and [m["arch"] for m in result["models"]] == [
        "efficientnet_lite0",
        "lenet5",
    ]
    for model in result["models"]:
        code, out, _ = run(
            capsys, "predict", image, "--arch", model["arch"], "--device", "cpu", "--json"
        )
        assert model["predictions"] == json.loads(out)["predictions"]
        assert model["weights"] == json.loads(out)["weights"]
        facts = model["facts"]
        assert {"params", "macs", "depth", "year", "top1_accuracy", "weights_real"} <= set(facts)
        assert model["forward_ms"] > 0 and model["device"] == "cpu"
    lite, lenet = result["models"]
    assert lite["truth"]["label"] == "military uniform" and lenet["truth"] is None
    assert lite["truth"]["top5_hit"] == (lite["truth"]["rank"] <= 5)
    agreement = result["agreement"]
    assert agreement["shared_classes"] == [] and agreement["top1_differs"] is True
    assert agreement["top1"] == [lite["predictions"][0]["label"], lenet["predictions"][0]["label"]]
    assert result["augment"] is None and result["cancelled"] is False


def test_compare_text_report(capsys, samples_dir):
    code, out, _ = run(
        capsys, "compare", str(samples_dir / "digits" / "digit_4.png"), "--archs", "lenet5,lenet5"
    )
    assert code == 2  # the same architecture twice
    code, out, _ = run(
        capsys,
        "compare",
        str(samples_dir / "digits" / "digit_4.png"),
        "--archs",
        "lenet5,efficientnet_lite0",
        "--augment",
        "RandomRotation(degrees=[10, 10])",
        "--seed",
        "2",
        "--device",
        "cpu",
    )
    assert code == 0
    assert "LeNet-5 (1998" in out and "GMACs" in out and "depth 5" in out
    assert "augmented once with: RandomRotation(degrees=[10.0, 10.0])  (seed 2)" in out
    assert "top-1 differ" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--archs", "lenet5"], "give 2 to 4 architectures"),
        (["--archs", "lenet5,a,b,c,d"], "give 2 to 4 architectures"),
        (["--archs", "lenet5,nope"], "unknown architecture 'nope'"),
        (["--archs", "lenet5,alexnet", "--weights", "resnet18=x.pt"], "not one of --archs"),
        (["--archs", "lenet5,alexnet", "--weights", "lenet5"], "expected ARCH=FILE"),
        (["--archs", "lenet5,alexnet", "--weights", "lenet5=/no/such.pt"], "not found"),
        (["--archs", "lenet5,efficientnet_lite0", "--augment", "Nope()"], "Nope"),
    ],
)
def test_compare_user_errors_are_one_line_with_exit_2(capsys, samples_dir, args, message):
    code, out, err = run(capsys, "compare", str(samples_dir / "cat.jpg"), *args)
    assert code == 2 and out == ""
    (line,) = err.strip().splitlines()
    assert line.startswith("cnnviz: error: ") and message in line


def test_eval_json_is_one_object_equal_to_a_hand_count(capsys, digit_set):
    code, out, err = run(
        capsys, "eval", str(digit_set), "--arch", "lenet5", "--json", "--workers", "0",
        "--batch", "4", "--device", "cpu",
    )  # fmt: skip
    assert code == 0 and err == ""
    (line,) = out.splitlines()
    result = json.loads(line)
    lenet = Engine.load("lenet5", device="cpu")
    files = [(str(k), digit_set / str(k) / "d.png") for k in range(10)]
    files.append(("1", digit_set / "1" / "seven.png"))
    per_class: dict[str, list[int]] = {}
    for truth, path in files:
        labels = [c.label for c in lenet.predict(load_image(path)).top]
        n, t1, t5 = per_class.get(truth, [0, 0, 0])
        per_class[truth] = [n + 1, t1 + (labels[0] != truth), t5 + (truth not in labels)]
    assert result["images"] == 11
    assert result["top1_error"] == pytest.approx(sum(v[1] for v in per_class.values()) / 11)
    assert result["top5_error"] == pytest.approx(sum(v[2] for v in per_class.values()) / 11)
    assert result["per_class"] == {
        label: {"images": n, "top1_error": t1 / n, "top5_error": t5 / n}
        for label, (n, t1, t5) in sorted(per_class.items())
    }
    assert per_class["1"][1] >= 1  # the misfiled seven
    skipped = {os.path.basename(s["path"]): s["reason"] for s in result["skipped"]}
    assert set(skipped) == {"broken.png", "tabby"}


def test_eval_text_report_and_errors(capsys, digit_set, tmp_path):
    code, out, _ = run(capsys, "eval", str(digit_set), "--arch", "lenet5", "--workers", "0")
    assert code == 0
    assert "lenet5 on " in out and "11 images" in out and "2 skipped" in out
    for args, message in [
        ([str(tmp_path / "nowhere")], "no such folder"),
        ([str(tmp_path)], "no images to evaluate"),
        ([str(digit_set), "--batch", "0"], "--batch"),
        ([str(digit_set), "--augment", "CutMix()"], "second image"),
    ]:
        code, out, err = run(capsys, "eval", *args, "--arch", "lenet5", "--workers", "0")
        assert code == 2 and out == ""
        (line,) = err.strip().splitlines()
        assert line.startswith("cnnviz: error: ") and message in line


def test_eval_with_decoding_worker_processes_prints_the_same_object(capsys, digit_set):
    outputs = []
    for workers in ("0", "2"):
        code, out, _ = run(
            capsys, "eval", str(digit_set), "--arch", "lenet5", "--json", "--workers", workers,
            "--augment", "RandomRotation(degrees=[-45, 45])", "--seed", "5", "--batch", "3",
        )  # fmt: skip
        assert code == 0
        outputs.append(json.loads(out))
    assert outputs[0] == outputs[1] and outputs[0]["images"] == 11
    assert outputs[0]["augment"] == {"spec": "RandomRotation(degrees=[-45.0, 45.0])", "seed": 5}


def test_every_option_says_its_default():
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    for name in ("compare", "eval"):
        for action in sub.choices[name]._actions:
            if action.option_strings and action.dest != "help" and not action.required:
                assert action.help and "default" in action.help, (name, action.dest)
