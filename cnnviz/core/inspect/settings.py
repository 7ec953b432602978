"""What the layer explorer asks for (no torch: the Qt side builds these)."""

from __future__ import annotations

from dataclasses import dataclass

# Asking for this layer name selects the model's first Conv2d (the explorer's default).
FIRST_CONV = "@first-conv"

# What the layer explorer can show; a request names only those on screen.
ALL_PARTS: frozenset[str] = frozenset({"maps", "stats", "filters", "im2col"})


@dataclass(frozen=True)
class LayerSettings:
    """The layer explorer's selection, how its maps are tiled, and which parts are shown."""

    layer: str
    normalise: str = "channel"  # or "shared"
    order: str = "index"  # or "mean", "max"
    parts: frozenset[str] = ALL_PARTS
