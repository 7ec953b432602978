"""Layer names, counts and convolution geometry in words (no torch: the panels use it)."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import TYPE_CHECKING

from cnnviz.core.errors import UnknownLayerError

if TYPE_CHECKING:
    from cnnviz.core.inspect.tree import ConvInfo


def require_layer(name: str, names: Sequence[str], arch: str, *, convs: Sequence[str] = ()) -> None:
    """UnknownLayerError naming close names (or some conv layers) unless `name` is known."""
    if name in names:
        return
    close = difflib.get_close_matches(name, list(names), n=5, cutoff=0.6)
    if close:
        hint = "; close names: " + ", ".join(close)
    elif convs:
        more = ", …" if len(convs) > 6 else ""
        hint = "; its conv layers include: " + ", ".join(convs[:6]) + more
    else:
        hint = ""
    raise UnknownLayerError(f"{arch} has no layer {name!r}{hint}")


def format_count(n: int) -> str:
    """1234 -> "1.2k", 25_600_000 -> "25.6M"."""
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if n >= limit:
            return f"{n / limit:.1f}{suffix}"
    return str(n)


def conv_geometry(conv: ConvInfo) -> str:
    """Kernel, stride, padding (and groups, dilation when not 1) as "k3 s2 p1 g32"."""

    def side(values: tuple[int, ...] | str) -> str:
        if isinstance(values, str):
            return values
        return str(values[0]) if len(set(values)) == 1 else "×".join(map(str, values))

    text = f"k{side(conv.kernel_size)} s{side(conv.stride)} p{side(conv.padding)}"
    if conv.groups != 1:
        text += f" g{conv.groups}"
    if any(d != 1 for d in conv.dilation):
        text += f" d{side(conv.dilation)}"
    return text
