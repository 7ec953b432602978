"""Explanations as requests over the worker's Session: live maps, the occluder, long jobs.

Every request explains exactly what the live analysis fed the model: the session's model
input for the image through the lab's pipeline (`Session.model_input`), so with a flip on
the flipped input is explained and the map comes out mirrored.

- `ExplainRequest` (lane "explain", newest wins): one method, several methods (the grid),
  or one method for two classes (the contrast). Gradient methods are quick enough for a
  live lane; a newer request stops a running one between batches.
- `OccluderRequest` (lane "occluder", one forward): the top-5 with a patch applied, so the
  probe follows a mouse drag.
- `OcclusionRequest` and `SanityRequest` (long lanes): occlusion sensitivity and the
  cascading-randomisation check, in batches with progress and cancel, yielding to live
  requests between batches.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import torch

from cnnviz.core.augment.spec import AugmentSettings
from cnnviz.core.engine import ClassScore, Engine
from cnnviz.core.explain.compare import Contrast, OccluderProbe, contrast, occluder_probe
from cnnviz.core.explain.geometry import map_to_original
from cnnviz.core.explain.methods import (
    CAM_METHODS,
    DEFAULT_OPTIONS,
    METHOD_TITLES,
    ClassChoice,
    ExplainOptions,
    Explanation,
    OptionError,
    check_method,
    explain,
    model_input,
)
from cnnviz.core.explain.sanity import SanityCheck, sanity_check
from cnnviz.core.requests import ImageSource, JobContext, ModelKey, Request

if TYPE_CHECKING:
    from cnnviz.core.session import ModelInput, Session

PHOTO_MAX_SIDE = 640  # the photo a map is drawn on ("on original photo"), longest side


@dataclass(frozen=True, eq=False)
class ExplainCell:
    """One picture of the Explain view: a map at model-input size and on the photo."""

    title: str  # "Grad-CAM"
    caption: str  # "tabby, tabby cat · 41.2 % · at features.8 · 38 ms"
    heat: np.ndarray  # float32 (H, W): 0..1, or -1..1 when `diverging`
    photo_heat: np.ndarray  # float32 on `ExplainView.photo` (NaN outside the centre crop)
    diverging: bool = False  # a signed difference (class A minus class B)


@dataclass(frozen=True, eq=False)
class ExplainView:
    """What the Explain workspace draws for one request, as plain data."""

    cells: tuple[ExplainCell, ...]
    explanations: tuple[Explanation, ...]  # per method (grid), or classes A and B (contrast)
    contrast: Contrast | None
    model_input: np.ndarray  # (H, W, 3) uint8, what the model saw
    photo: np.ndarray  # (h, w, 3) uint8: the picture preprocessing starts from
    top: tuple[ClassScore, ...]  # the model's top-5 for this input
    class_index: int  # the class explained (class A in a contrast)
    categories: tuple[str, ...]
    cancelled: bool = False
    elapsed_ms: float = 0.0


@dataclass(frozen=True)
class ExplainInput:
    """What is explained: the model, the image and the lab's settings (None: no lab)."""

    model: ModelKey
    image: ImageSource
    augment: AugmentSettings | None = None


def _prepared(
    session: Session, source: ExplainInput, context: JobContext
) -> tuple[Engine, torch.Tensor, ModelInput]:
    engine = session.engine_for(source.model, context)
    fed = session.model_input(source.image, source.augment)
    return engine, model_input(engine, fed.image), fed


def _photo(session: Session, source: ExplainInput, fed: ModelInput) -> np.ndarray:
    """The picture preprocessing resizes and crops: the photo, or the lab's augmented image."""
    if fed.augmented is None:
        return session.display_image(source.image)
    picture = fed.image
    assert isinstance(picture, torch.Tensor)
    rgb = picture.permute(1, 2, 0).cpu().numpy()
    step = max(1, int(np.ceil(max(rgb.shape[:2]) / PHOTO_MAX_SIDE)))
    return np.ascontiguousarray(rgb[::step, ::step])


def _caption(e: Explanation, *, with_class: bool = True) -> str:
    parts = [f"{e.class_label} · {e.probability:.1%}"] if with_class else []
    if e.layer:  # a grid explains one class, named once beside it
        parts.append(f"at {e.layer}")
    parts.append(f"{e.elapsed_ms:.0f} ms" + (" · cancelled" if e.cancelled else ""))
    return " · ".join(parts)


def _title(e: Explanation) -> str:
    return METHOD_TITLES[e.method]


def _view(
    engine: Engine,
    photo: np.ndarray,
    explanations: tuple[Explanation, ...],
    compared: Contrast | None,
    elapsed_ms: float,
) -> ExplainView:
    def on_photo(heat: np.ndarray) -> np.ndarray:
        return map_to_original(engine.spec, heat, photo.shape[:2])

    named = compared is not None or len(explanations) == 1
    cells = [
        ExplainCell(_title(e), _caption(e, with_class=named), e.upsampled, on_photo(e.upsampled))
        for e in explanations
    ]
    if compared is not None:
        a, b = compared.a, compared.b
        cells.append(
            ExplainCell(
                f"{METHOD_TITLES[a.method]}: A − B",
                f"red: {a.class_label} · blue: {b.class_label}",
                compared.upsampled,
                on_photo(compared.upsampled),
                diverging=True,
            )
        )
    first = explanations[0]
    return ExplainView(
        tuple(cells),
        explanations,
        compared,
        first.model_input,
        photo,
        first.top,
        first.class_index,
        tuple(engine.spec.categories),
        any(e.cancelled for e in explanations),
        elapsed_ms,
    )


def _stop_and_yield(context: JobContext) -> Callable[[], bool]:
    """A `cancelled` check that first lets waiting live requests run (long jobs).

    Occlusion checks between batches inside `torch.inference_mode`; the live requests run
    in the worker's normal mode (gradients on), as they would between jobs.
    """

    def check() -> bool:
        with torch.inference_mode(False), torch.enable_grad():
            context.yield_to_live()
        return context.cancelled()

    return check


@dataclass(frozen=True, eq=False)
class ExplainRequest(Request[ExplainView]):
    """Explain `target` (None: the top-1) with each of `methods`; with `versus`, explain
    `methods[0]` for `target` and `versus` side by side with their difference."""

    lane: ClassVar[str] = "explain"
    progress_label: ClassVar[str] = "Explaining"

    source: ExplainInput
    methods: tuple[str, ...] = ("gradcam",)
    target: ClassChoice | None = None
    versus: ClassChoice | None = None
    layer: str | None = None  # CAM layer (None: the last conv block)
    options: ExplainOptions = field(default=DEFAULT_OPTIONS)

    def execute(self, session: Session, context: JobContext) -> ExplainView:
        """The maps, the top-5 of the explained input and the maps on the photo."""
        import time

        start = time.perf_counter()
        methods = tuple(check_method(m) for m in self.methods)
        if not methods:
            raise OptionError("choose at least one method")
        self.options.check()
        engine, x, fed = _prepared(session, self.source, context)
        photo = _photo(session, self.source, fed)
        return self._run(engine, x, photo, methods, context, start)

    def _run(
        self,
        engine: Engine,
        x: torch.Tensor,
        photo: np.ndarray,
        methods: tuple[str, ...],
        context: JobContext,
        start: float,
    ) -> ExplainView:
        import time

        cancelled = self._check(context)
        compared = None
        if self.versus is not None:
            layer = self.layer if methods[0] in CAM_METHODS else None
            compared = contrast(
                engine,
                x,
                methods[0],
                self.target if self.target is not None else _top1(engine, x),
                self.versus,
                layer=layer,
                options=self.options,
            )
            explanations: tuple[Explanation, ...] = (compared.a, compared.b)
        else:
            found: list[Explanation] = []
            target = self.target
            for i, method in enumerate(methods):
                if found and cancelled():
                    break
                layer = self.layer if method in CAM_METHODS else None
                found.append(
                    explain(
                        engine,
                        x,
                        method,
                        target_class=target,
                        layer=layer,
                        options=self.options,
                        progress=self._progress(context, i, len(methods)),
                        cancelled=cancelled,
                    )
                )
                target = found[0].class_index  # every cell explains the same class
            explanations = tuple(found)
        return _view(engine, photo, explanations, compared, (time.perf_counter() - start) * 1000)

    def _check(self, context: JobContext) -> Callable[[], bool]:
        return context.cancelled

    @staticmethod
    def _progress(context: JobContext, index: int, count: int) -> Callable[[int, int], None]:
        def report(done: int, total: int) -> None:
            context.progress(index * total + done, count * total)

        return report


def _top1(engine: Engine, x: torch.Tensor) -> int:
    return int(engine.forward(x)[0].argmax())


@dataclass(frozen=True, eq=False)
class OcclusionRequest(ExplainRequest):
    """An `ExplainRequest` that includes occlusion: a long job, in batches, cancellable."""

    lane: ClassVar[str] = "explain-long"
    long: ClassVar[bool] = True
    progress_label: ClassVar[str] = "Occlusion"

    def _check(self, context: JobContext) -> Callable[[], bool]:
        return _stop_and_yield(context)


def explain_request(
    source: ExplainInput,
    methods: tuple[str, ...],
    *,
    target: ClassChoice | None = None,
    versus: ClassChoice | None = None,
    layer: str | None = None,
    options: ExplainOptions = DEFAULT_OPTIONS,
) -> ExplainRequest:
    """The request for these methods: a long job when occlusion is among them."""
    kind = OcclusionRequest if "occlusion" in methods else ExplainRequest
    return kind(source, methods, target, versus, layer, options)


@dataclass(frozen=True, eq=False)
class OccluderRequest(Request[OccluderProbe]):
    """The top-5 with a `size` square at (`top`, `left`) of the model input replaced."""

    lane: ClassVar[str] = "occluder"
    progress_label: ClassVar[str] = "Occluder"

    source: ExplainInput
    top: int
    left: int
    size: int
    fill: str = "mean"
    topk: int = 5

    def execute(self, session: Session, context: JobContext) -> OccluderProbe:
        """One forward of the model input with the patch in place."""
        if self.size < 1:
            raise OptionError(f"patch size must be at least 1, got {self.size}")
        engine, x, _fed = _prepared(session, self.source, context)
        return occluder_probe(
            engine, x, top=self.top, left=self.left, size=self.size, fill=self.fill, topk=self.topk
        )


@dataclass(frozen=True, eq=False)
class SanityRequest(Request[SanityCheck]):
    """Cascading randomisation of the top `max_steps` blocks (None: all) for `method`."""

    lane: ClassVar[str] = "sanity"
    long: ClassVar[bool] = True
    progress_label: ClassVar[str] = "Sanity check"

    source: ExplainInput
    method: str = "gradcam"
    target: ClassChoice | None = None
    layer: str | None = None
    options: ExplainOptions = field(default=DEFAULT_OPTIONS)
    max_steps: int | None = 6
    seed: int = 0

    def execute(self, session: Session, context: JobContext) -> SanityCheck:
        """The trained map and one map per randomised block, with rank correlations."""
        engine, x, _fed = _prepared(session, self.source, context)
        return sanity_check(
            engine,
            x,
            self.method,
            target_class=self.target,
            layer=self.layer if check_method(self.method) in CAM_METHODS else None,
            options=self.options,
            seed=self.seed,
            max_steps=self.max_steps,
            progress=context.progress,
            cancelled=_stop_and_yield(context),
        )


@dataclass(frozen=True)
class CamLayers:
    """Where a class activation map can be taken: every module with a spatial output."""

    model: ModelKey
    names: tuple[str, ...]  # in forward order
    default: str  # the last conv block, what the maps use unless another is chosen


@dataclass(frozen=True, eq=False)
class CamLayersRequest(Request[CamLayers]):
    """The layers (convs and the blocks around them) a Grad-CAM can be taken at."""

    lane: ClassVar[str] = "explain-layers"
    model: ModelKey

    def execute(self, session: Session, context: JobContext) -> CamLayers:
        from cnnviz.core.explain.cam import default_cam_layer
        from cnnviz.core.inspect.tree import LayerNode

        engine = session.engine_for(self.model, context)
        tree = session.layer_tree()
        names = tuple(
            node.name
            for node in tree.walk()
            if isinstance(node, LayerNode)
            and node.name
            and node.ran
            and node.output_shape is not None
            and len(node.output_shape) == 4  # (1, C, H, W): a map to explain
            and min(node.output_shape[2:]) > 1
        )
        x = torch.zeros((1, *tree.input_shape[-3:]), device=engine.device)
        return CamLayers(self.model, names, default_cam_layer(engine.model, x))
