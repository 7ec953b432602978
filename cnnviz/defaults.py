"""Defaults shared by the CLI, the window and the core (importing this loads no torch)."""

DEFAULT_ARCH = "efficientnet_lite0"
BENCH_ARCHS = ("efficientnet_lite0", "resnet50")
BENCH_SECTIONS = ("live", "forward", "layer", "montage", "explain", "eval", "window")
