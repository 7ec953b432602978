"""The errors that carry a message meant for the user (shown as-is, never as a traceback)."""

from __future__ import annotations

from cnnviz.core.augment import SpecError
from cnnviz.core.capture import UnknownLayerError
from cnnviz.core.device import DeviceError
from cnnviz.core.images import ImageLoadError
from cnnviz.core.registry import UnknownArchError
from cnnviz.core.weights import WeightsError

USER_ERRORS: tuple[type[Exception], ...] = (
    ImageLoadError,
    WeightsError,
    DeviceError,
    UnknownArchError,
    SpecError,
    UnknownLayerError,
)
