"""`cnnviz features` and `cnnviz filters` against plain torchvision models and hand layouts."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision
from pictures import opened

from cnnviz.cli import main
from cnnviz.core.engine import Engine
from cnnviz.core.inspect.colormaps import lookup_table


def run_cli(argv: list[str]) -> int:
    """The command line's own entry point, in this process (user errors: one line, exit 2)."""
    return main(argv)


@pytest.fixture(scope="module")
def resnet18_file(tmp_path_factory):
    torch.manual_seed(11)
    path = tmp_path_factory.mktemp("weights") / "resnet18_seeded.pth"
    torch.save(torchvision.models.resnet18().state_dict(), path)
    return path


def test_features_npy_is_the_torchvision_layer_output(resnet18_file, samples_dir, tmp_path):
    image_path = samples_dir / "cat.jpg"
    npy, png = tmp_path / "acts.npy", tmp_path / "grid.png"
    code = run_cli(
        [
            "features",
            str(image_path),
            "--arch",
            "resnet18",
            "--weights",
            str(resnet18_file),
            "--device",
            "cpu",
            "--layer",
            "layer2.1.conv1",
            "--npy",
            str(npy),
            "--out",
            str(png),
            "--scale",
            "2",
        ]
    )
    assert code == 0
    model = torchvision.models.resnet18()
    model.load_state_dict(torch.load(resnet18_file))
    model.eval()
    preprocess = torchvision.models.ResNet18_Weights.IMAGENET1K_V1.transforms()
    seen = []
    model.layer2[1].conv1.register_forward_hook(lambda _m, _i, out: seen.append(out.clone()))
    with torch.no_grad():
        model(preprocess(opened(image_path).convert("RGB")).unsqueeze(0))
    np.testing.assert_array_equal(np.load(npy), seen[0][0].numpy())
    # 128 channels of 28x28: a 12x11 grid with 1 px gaps, doubled.
    assert np.asarray(opened(png)).shape == ((11 * 29 + 1) * 2, (12 * 29 + 1) * 2, 3)


def test_features_of_a_join_node_and_options(samples_dir, tmp_path, capsys):
    png = tmp_path / "add.png"
    code = run_cli(
        [
            "features",
            str(samples_dir / "cat.jpg"),
            "--device",
            "cpu",
            "--layer",
            "features.6.1.add",
            "--out",
            str(png),
            "--order",
            "max",
            "--normalise",
            "shared",
            "--colormap",
            "grey",
            "--scale",
            "1",
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "features.6.1.add · add · 192×7×7" in out
    image = np.asarray(opened(png))
    # Shared scale ordered by max: the first tile holds the global maximum, drawn white.
    assert (image[1:8, 1:8] == 255).all(axis=2).any()
    assert not (image[1 + 8 * 13 : 8 + 8 * 13, 1:8] == 255).all(axis=2).any()


def test_unknown_layer_exits_2_naming_close_layers(samples_dir, capsys):
    code = run_cli(
        ["features", str(samples_dir / "cat.jpg"), "--arch", "lenet5", "--layer", "features.4x"]
    )
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "no layer 'features.4x'" in err[0] and "features.4" in err[0]


def test_filters_grid_pixels_follow_the_weights(tmp_path):
    out = tmp_path / "k.png"
    code = run_cli(
        ["filters", "--arch", "lenet5", "--layer", "features.3", "--out", str(out), "--scale", "1"]
    )
    assert code == 0
    weight = Engine.load("lenet5", device="cpu").model.features[3].weight.detach().numpy()
    image = np.asarray(opened(out))
    # 16 output rows x 6 input columns of 5x5 cells, 1 px gaps.
    assert image.shape == (16 * 6 + 1, 6 * 6 + 1, 3)
    table = lookup_table("diverging")
    scale = np.abs(weight).max()
    for o, i, r, c in ((0, 0, 0, 0), (7, 3, 2, 4), (15, 5, 4, 1)):
        level = int(np.round((0.5 + 0.5 * weight[o, i, r, c] / scale) * 255))
        np.testing.assert_array_equal(image[o * 6 + 1 + r, i * 6 + 1 + c], table[level])


def test_filters_of_rgb_first_layer_are_colour_patches(tmp_path):
    out = tmp_path / "p.png"
    assert run_cli(["filters", "--arch", "lenet5", "--layer", "features.0", "--out", str(out)]) == 0
    image = np.asarray(opened(out))
    weight = Engine.load("lenet5", device="cpu").model.features[0].weight.detach().numpy()
    scale = image.shape[0] // (2 * 6 + 1)  # 6 patches of 5x5 in a 2x3 grid
    assert image.shape == ((2 * 6 + 1) * scale, (3 * 6 + 1) * scale, 3)
    rgb = weight[4].transpose(1, 2, 0)  # row 1, col 1
    expected = np.round((rgb - rgb.min()) / np.ptp(rgb) * 255)
    got = image[(7 + 2) * scale, (7 + 3) * scale].astype(float)
    np.testing.assert_allclose(got, expected[2, 3], atol=1)


def test_filters_rejects_layers_without_kernels(capsys):
    assert run_cli(["filters", "--arch", "lenet5", "--layer", "features.1", "--out", "x.png"]) == 2
    assert "ReLU, not a Conv2d" in capsys.readouterr().err
