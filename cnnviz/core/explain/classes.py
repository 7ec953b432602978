"""Choosing the class to explain: by index, or by (part of) its name."""

from __future__ import annotations

from collections.abc import Sequence

from cnnviz.core.errors import UserError

_SHOWN = 5


class UnknownClassError(UserError, KeyError):
    """A class index out of range, or a name matching no class or several."""


def _listing(labels: Sequence[str], indices: Sequence[int]) -> str:
    shown = ", ".join(f"{i} {labels[i]!r}" for i in indices[:_SHOWN])
    more = f", … ({len(indices)} in all)" if len(indices) > _SHOWN else ""
    return shown + more


def resolve_class(categories: Sequence[str], choice: int | str) -> int:
    """The class index for an index (int or digits) or a case-insensitive name or fragment.

    A name equal to a label wins; otherwise the fragment must occur in exactly one label.
    """
    if isinstance(choice, str) and choice.strip().lstrip("-").isdigit():
        choice = int(choice.strip())
    if isinstance(choice, int):
        if not 0 <= choice < len(categories):
            raise UnknownClassError(
                f"class index {choice} is out of range; this model has classes "
                f"0..{len(categories) - 1}"
            )
        return choice
    wanted = choice.strip().casefold()
    if not wanted:
        raise UnknownClassError("empty class name")
    folded = [label.casefold() for label in categories]
    exact = [i for i, label in enumerate(folded) if label == wanted]
    if len(exact) == 1:
        return exact[0]
    partial = exact or [i for i, label in enumerate(folded) if wanted in label]
    if len(partial) == 1:
        return partial[0]
    if not partial:
        words = set(wanted.split())
        near = [i for i, label in enumerate(folded) if words & set(label.split())]
        hint = f"; similar: {_listing(categories, near)}" if near else ""
        raise UnknownClassError(f"no class matches {choice!r}{hint}")
    raise UnknownClassError(
        f"{choice!r} matches {len(partial)} classes: {_listing(categories, partial)}; "
        "type more of the name or give the index"
    )
