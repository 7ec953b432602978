"""Hostile input through the command line (issue 13): exit 2 and one line, or valid output.

Runs cnnviz.cli.main in-process; every hostile file is generated here.
"""

from __future__ import annotations

import json
import math
import os
import pickle
from pathlib import Path

import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

import cnnviz.app
import cnnviz.cli.bench
from cnnviz.cli import main
from cnnviz.core.zoo.models.lenet import lenet5


@pytest.fixture(scope="module")
def digit(samples_dir) -> str:
    return str(samples_dir / "digits" / "digit_7.png")


def _one_error(capsys, argv: list[str]) -> str:
    """Run the CLI; assert exit 2 with exactly one stderr line; return that line."""
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cnnviz: error: "), err
    assert len(lines[0]) < 300, lines[0]
    return lines[0].removeprefix("cnnviz: error: ")


def _lenet_file(path: Path, fill: float | None = None) -> str:
    state = lenet5().state_dict()
    if fill is not None:
        state = {k: torch.full_like(v, fill) for k, v in state.items()}
    save_file(state, str(path))
    return str(path)


# --- 4 and 8: weights files -------------------------------------------------------------


class _System:
    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


def _truncated_header(p: Path) -> None:
    p.write_bytes((10**6).to_bytes(8, "little") + b"{}")


def _key_error(p: Path) -> None:
    p.write_bytes(b"\x80\x02h\x05.")


def _meta(p: Path) -> None:
    torch.save({k: v.to("meta") for k, v in lenet5().state_dict().items()}, p)


@pytest.mark.parametrize(
    ("name", "make", "expected"),
    [
        ("empty.safetensors", lambda p: p.write_bytes(b""), "empty file"),
        ("cut.safetensors", _truncated_header, "runs past the end of the 10-byte file"),
        ("memo.pth", _key_error, "memo.pth: not a readable weights file (KeyError: 5)"),
        ("outline.pth", _meta, "outline.pth: 10 of 10 tensors hold no values (meta tensors"),
    ],
)
def test_malformed_weights_exit_2_with_one_line(capsys, tmp_path, digit, name, make, expected):
    path = tmp_path / name
    make(path)
    argv = ["predict", digit, "--arch", "lenet5", "--weights", str(path), "--device", "cpu"]
    assert expected in _one_error(capsys, argv)


def test_pickled_os_system_is_refused_as_code_and_never_runs(capsys, tmp_path, digit):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    path.write_bytes(pickle.dumps({"w": _System(f"touch {marker}")}, protocol=2))
    message = _one_error(capsys, ["predict", digit, "--arch", "lenet5", "--weights", str(path)])
    assert message.startswith("evil.pth: refused: the file holds code (it would call ")
    assert not marker.exists()


def test_features_with_nan_weights_exit_2(capsys, tmp_path, digit):
    weights = _lenet_file(tmp_path / "nan.safetensors", math.nan)
    argv = ["features", digit, "--arch", "lenet5", "--weights", weights, "--layer", "features.0"]
    message = _one_error(capsys, argv + ["--out", str(tmp_path / "grid.png")])
    assert message.startswith("nan.safetensors: 10 weight tensors hold NaN or infinite values")
    assert not (tmp_path / "grid.png").exists()


# --- 5: non-finite outputs ----------------------------------------------------------------


def _refuse_constant(token: str):
    raise ValueError(f"not JSON: {token}")


@pytest.mark.parametrize("fill", [math.nan, math.inf])
@pytest.mark.parametrize("augment", [[], ["--augment", "RandomHorizontalFlip(p=1.0)"]])
def test_predict_json_stays_json_when_outputs_are_not_finite(
    capsys, tmp_path, digit, fill, augment
):
    weights = _lenet_file(tmp_path / "bad.safetensors", fill)
    argv = ["predict", digit, "--arch", "lenet5", "--weights", weights, "--json", *augment]
    assert main(argv) == 0
    out, err = capsys.readouterr()
    record = json.loads(out, parse_constant=_refuse_constant)
    assert record["non_finite"] is True
    assert [p["probability"] for p in record["predictions"]] == [None] * 5
    warnings = err.strip().splitlines()
    assert len(warnings) == 1 and warnings[0].startswith("cnnviz: warning: ")
    assert "NaN or infinite" in warnings[0]


def test_predict_json_of_finite_weights_is_unflagged(capsys, digit):
    assert main(["predict", digit, "--arch", "lenet5", "--json", "--topk", "10"]) == 0
    out, err = capsys.readouterr()
    record = json.loads(out, parse_constant=_refuse_constant)
    assert record["non_finite"] is False and err == ""
    assert math.isclose(sum(p["probability"] for p in record["predictions"]), 1.0, rel_tol=1e-5)


# --- 6: output paths and sizes --------------------------------------------------------------


def _features(digit: str, *extra: str) -> list[str]:
    return ["features", digit, "--arch", "lenet5", "--layer", "features.0", *extra]


def test_output_in_a_missing_folder_or_onto_a_folder(capsys, tmp_path, digit):
    missing = tmp_path / "no" / "such" / "grid.png"
    message = _one_error(capsys, _features(digit, "--out", str(missing)))
    assert message == f"--out: cannot write {missing}: the folder {missing.parent} does not exist"
    message = _one_error(capsys, _features(digit, "--npy", str(tmp_path)))
    assert message == f"--npy: cannot write {tmp_path}: it is a folder"
    out = tmp_path / "f.png"
    argv = ["filters", "--arch", "lenet5", "--layer", "features.0", "--out", str(tmp_path)]
    assert _one_error(capsys, argv) == f"--out: cannot write {tmp_path}: it is a folder"
    assert not out.exists()


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux)")
def test_a_full_disk_is_a_clear_error(capsys, tmp_path, digit):
    message = _one_error(capsys, _features(digit, "--out", "/dev/full"))
    assert message == "cannot write /dev/full: no space left on the device"
    full_npy = tmp_path / "acts.npy"
    full_npy.symlink_to("/dev/full")
    message = _one_error(capsys, _features(digit, "--npy", str(full_npy)))
    assert message == f"cannot write {full_npy}: no space left on the device"


def test_absurd_scale_is_capped_before_allocating(capsys, tmp_path, digit):
    out = tmp_path / "huge.png"
    message = _one_error(capsys, _features(digit, "--out", str(out), "--scale", "100000"))
    # features.0 of LeNet: 6 maps of 28x28 in 3 columns and 2 rows with 1-px gaps around them:
    # 3 * 29 + 1 = 88 px wide, 2 * 29 + 1 = 59 high; 111**2 * 88 * 59 <= 64e6 < 112**2 * 88 * 59.
    assert message.startswith("scale 100000 would make a 8800000x5900000 picture, more than 64")
    assert message.endswith("use a scale of at most 111")
    assert not out.exists()
    message = _one_error(capsys, _features(digit, "--out", str(out), "--scale", "-3"))
    assert message == "--scale must be 0 (automatic) or a positive integer, not -3"


# --- 7: bench arguments -----------------------------------------------------------------------


@pytest.fixture
def no_bench(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("run_bench was called")

    monkeypatch.setattr(cnnviz.cli.bench, "run_bench", refuse)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["--archs", "lenet5,resnet9000"],
            "--archs: unknown architecture 'resnet9000' (close: resnet",
        ),
        (["--device", "cpu:5"], "--device: there is no CPU device 5 (use cpu)"),
        (
            ["--device", "cuda:7" if not torch.cuda.is_available() else "tpu"],
            "--device: ",
        ),
        (["--repeat", "0"], "--repeat must be at least 1, not 0"),
    ],
)
def test_bench_arguments_are_checked_first(capsys, no_bench, args, expected):
    assert _one_error(capsys, ["bench", *args]).startswith(expected)


# --- 8: the window's arguments, checked before it starts ------------------------------------


@pytest.fixture
def window_starts(monkeypatch) -> list:
    started = []
    monkeypatch.setattr(cnnviz.app, "run_app", lambda args: started.append(args) or 0)
    return started


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs and symbolic links")
def test_gui_image_is_checked_before_the_window_starts(capsys, tmp_path, window_starts):
    os.mkfifo(tmp_path / "pipe.png")
    (tmp_path / "a.png").symlink_to(tmp_path / "b.png")
    (tmp_path / "b.png").symlink_to(tmp_path / "a.png")
    expected = {
        "missing.png": "--image: missing.png: file not found",
        "": f"--image: {tmp_path.name}: is a folder, not an image",
        "pipe.png": "--image: pipe.png: is a named pipe (FIFO), not an image",
        "a.png": "--image: a.png: symbolic link loop (the link leads back to itself)",
    }
    for name, message in expected.items():
        path = str(tmp_path / name) if name else str(tmp_path)
        assert _one_error(capsys, ["gui", "--image", path]) == message
    assert window_starts == []


def test_gui_starts_with_a_good_image(capsys, samples_dir, window_starts):
    assert main(["gui", "--image", str(samples_dir / "cat.jpg")]) == 0
    assert len(window_starts) == 1 and window_starts[0].image.endswith("cat.jpg")


SPEC_ERRORS = [
    (["--augment", "RandomFlip(p=1)"], "--augment: unknown transform 'RandomFlip'"),
    (["--augment", "RandomInvert(p=1.0);" * 600], "--augment: spec is too long (12000 characters"),
    (
        ["--augment", "MixUp(alpha=1.0)"],
        "--augment: MixUp needs a second image; give it with --mix",
    ),
    (
        ["--augment", "RandomInvert(p=1.0)", "--mix", "{cat}"],
        "--mix is given, but --augment has no MixUp or CutMix to use it",
    ),
    (
        ["--augment", "RandomRotation(degrees=" + "9" * 5000 + ")"],
        "--augment: a number of 5000 characters is too long",
    ),
]


@pytest.mark.parametrize(("args", "expected"), SPEC_ERRORS)
def test_gui_augment_is_parsed_before_the_window_starts(
    capsys, samples_dir, window_starts, args, expected
):
    args = [a.format(cat=samples_dir / "cat.jpg") for a in args]
    assert _one_error(capsys, ["gui", *args]).startswith(expected)
    assert window_starts == []


@pytest.mark.parametrize(("args", "expected"), SPEC_ERRORS)
def test_predict_blames_the_spec_or_flag_not_the_image(capsys, samples_dir, args, expected):
    cat = str(samples_dir / "cat.jpg")
    args = [a.format(cat=cat) for a in args]
    message = _one_error(capsys, ["predict", cat, "--arch", "lenet5", *args])
    assert message.startswith(expected) and "cat.jpg:" not in message.split("--mix")[0]


def test_predict_refuses_a_cpu_that_does_not_exist(capsys, digit):
    assert _one_error(capsys, ["predict", digit, "--device", "cpu:5"]) == (
        "there is no CPU device 5 (use cpu)"
    )


# --- 1 and 2 through the CLI ----------------------------------------------------------------


def test_predict_refuses_postscript_and_extreme_aspect(capsys, tmp_path, digit):
    postscript = tmp_path / "photo.png"
    postscript.write_text("%!PS-Adobe-3.0\nshowpage\n")
    strip = tmp_path / "strip.png"
    Image.new("1", (1, 100_000)).save(strip)
    code = main(["predict", str(postscript), str(strip), digit, "--arch", "lenet5", "--json"])
    out, err = capsys.readouterr()
    assert code == 2
    assert [json.loads(line)["image"] for line in out.splitlines()] == [digit]
    errors = err.strip().splitlines()
    assert len(errors) == 2
    assert errors[0].startswith("cnnviz: error: photo.png: is PostScript (EPS/PS)")
    assert errors[1].startswith("cnnviz: error: strip.png: 1x100000 is too elongated")


def test_gui_weights_path_is_checked_before_the_window_starts(capsys, tmp_path, window_starts):
    missing = tmp_path / "w.pth"
    assert _one_error(capsys, ["gui", "--weights", str(missing)]) == (
        f"--weights: {missing}: file not found"
    )
    assert _one_error(capsys, ["gui", "--weights", str(tmp_path)]) == (
        f"--weights: {tmp_path}: is a folder, not a weights file"
    )
    assert window_starts == []
