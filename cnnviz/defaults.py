"""Defaults shared by the CLI, the window and the core (importing this loads no torch)."""

DEFAULT_ARCH = "efficientnet_lite0"
BENCH_ARCHS = ("efficientnet_lite0", "lenet5", "resnet18", "resnet50", "mobilenet_v3_large")
