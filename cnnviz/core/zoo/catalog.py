"""A plain-data listing of the zoo, for the CLI table and the window's picker."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, ClassVar

from cnnviz.core.device import DeviceInfo, available_devices
from cnnviz.core.requests import JobContext, Request
from cnnviz.core.zoo.registry import all_archs
from cnnviz.core.zoo.weights import availability

if TYPE_CHECKING:
    from cnnviz.core.session import Session


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


@dataclass(frozen=True)
class Catalog:
    """The zoo and the devices this machine can run on."""

    rows: tuple[ArchRow, ...]
    devices: tuple[DeviceInfo, ...]


@dataclass(frozen=True)
class CatalogRequest(Request[Catalog]):
    """Ask for the zoo listing (it needs torch, so it is built on the worker)."""

    lane: ClassVar[str] = "catalog"

    def execute(self, session: Session, context: JobContext) -> Catalog:
        """The catalogue rows and available devices."""
        return Catalog(tuple(catalog()), tuple(available_devices()))
