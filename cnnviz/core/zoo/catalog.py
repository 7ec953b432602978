"""A plain-data listing of the zoo, for the CLI table and the window's picker."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from cnnviz.core.zoo.registry import all_archs
from cnnviz.core.zoo.weights import availability


@dataclass(frozen=True)
class ArchRow:
    name: str
    display_name: str
    family: str
    year: int
    paper: str
    paper_url: str
    params: int
    input_size: int
    classes: int
    weights: str  # offline / cached / downloadable / untrained

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def catalog() -> list[ArchRow]:
    """Every architecture with its weights availability, in the order of the classic line."""
    return [
        ArchRow(
            s.name,
            s.display_name,
            s.family,
            s.year,
            s.paper.title,
            s.paper.url,
            s.num_params,
            s.input_size,
            s.num_classes,
            availability(s),
        )
        for s in all_archs().values()
    ]
