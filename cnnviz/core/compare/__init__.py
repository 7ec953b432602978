"""Comparing architectures: their facts, and their answers for one shared input."""

from cnnviz.core.compare.facts import (
    CHART_AXES,
    ArchFacts,
    ChartPoint,
    ErrorChart,
    arch_facts,
    error_chart,
)
from cnnviz.core.compare.run import CompareError, Comparison, ModelRun, compare

__all__ = [
    "CHART_AXES",
    "ArchFacts",
    "ChartPoint",
    "CompareError",
    "Comparison",
    "ErrorChart",
    "ModelRun",
    "arch_facts",
    "compare",
    "error_chart",
]
