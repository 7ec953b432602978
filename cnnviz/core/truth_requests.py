"""The class names of an architecture, fetched on the worker (the registry imports torch)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from cnnviz.core.requests import JobContext, Request
from cnnviz.core.zoo.registry import get_arch

if TYPE_CHECKING:
    from cnnviz.core.session import Session


@dataclass(frozen=True)
class ClassNamesRequest(Request[tuple[str, ...]]):
    """The class names of `arch` in class-index order (no model is loaded)."""

    lane: ClassVar[str] = "class_names"

    arch: str

    def execute(self, session: Session, context: JobContext) -> tuple[str, ...]:
        """The registry's categories of `arch`."""
        return tuple(get_arch(self.arch).categories)
