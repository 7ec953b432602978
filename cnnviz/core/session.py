"""The worker's state: the loaded model and every cache that belongs to it.

One Session lives on the worker thread (the CLI makes its own). It owns the engine, the
decoded images, the augmentation pipelines, the un-augmented baselines and the last forward
pass with its captured layer, so that a montage setting or a receptive field costs no
forward pass and a slider tick costs one. Everything tied to a model is dropped when another
model is loaded.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, TypeVar

import numpy as np
import torch
from PIL import Image

from cnnviz.core.augment.pipeline import AugmentOutcome, AugmentPipeline, build_pipeline
from cnnviz.core.augment.spec import AugmentSettings, AugmentSpec
from cnnviz.core.device import intra_op_threads, keep_freed_memory
from cnnviz.core.engine import Engine, Prediction
from cnnviz.core.images import DISPLAY_MAX_SIDE, load_image
from cnnviz.core.requests import QUIET, ImageSource, JobContext, ModelKey
from cnnviz.core.zoo.weights import WeightsInfo

if TYPE_CHECKING:
    from cnnviz.core.inspect.forward import LayerForward, OnCaptured
    from cnnviz.core.inspect.grids import KernelGrid
    from cnnviz.core.inspect.tree import LayerTree
    from cnnviz.core.requests import Request

K = TypeVar("K")
V = TypeVar("V")
R = TypeVar("R")
T = TypeVar("T")


class _Recent(Generic[K, V]):
    """A small dict that forgets its oldest entry beyond `size`."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> V:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)
        return value

    def clear(self) -> None:
        self._items.clear()


@dataclass(frozen=True)
class ModelSummary:
    """What the window says about the loaded model."""

    arch: str
    display_name: str
    weights: WeightsInfo
    device: str
    num_classes: int


@dataclass(frozen=True, eq=False)
class ModelInput:
    """What the model is fed for one image and pipeline: the PIL image itself, or the lab's
    augmented uint8 (3, H, W) tensor with what the pipeline did."""

    image: Image.Image | torch.Tensor
    augmented: AugmentOutcome | None


class Session:
    """Caches the loaded engine and everything derived from it; answers one job at a time."""

    def __init__(self) -> None:
        keep_freed_memory()  # the worker runs its forwards off the main thread
        self.engine: Engine | None = None
        self._key: ModelKey | None = None
        self._images: _Recent[ImageSource, tuple[Image.Image, np.ndarray]] = _Recent(4)
        self._pipelines: _Recent[AugmentSpec, AugmentPipeline] = _Recent(32)
        # Tied to the loaded model; cleared by engine_for when the model changes.
        self._baselines: _Recent[tuple[ImageSource, int], Prediction] = _Recent(4)
        self._inputs: _Recent[tuple[ImageSource, AugmentSettings | None], ModelInput] = _Recent(2)
        self._forwards: _Recent[tuple[object, ...], tuple[Prediction, LayerForward | None]] = (
            _Recent(2)
        )
        self._layer_tree: LayerTree | None = None
        self._kernel_views: dict[str, tuple[KernelGrid, np.ndarray | None]] = {}
        self._helper: ThreadPoolExecutor | None = None
        # The model input as a normalised tensor, per (image, pipeline, preprocessing).
        self._tensors: _Recent[tuple[object, ...], torch.Tensor] = _Recent(2)

    # --- running jobs -------------------------------------------------------------------
    def run(self, request: Request[R], context: JobContext = QUIET) -> R:
        """`request.execute`, as the window's worker runs it: a short job (one image) with
        torch's CPU kernels on one thread, a long job (batches) on all of them; see
        `intra_op_threads` for the measurements behind it."""
        with intra_op_threads(None if request.long else 1):
            return request.execute(self, context)

    def in_background(self, work: Callable[..., T], *args: object) -> Future[T]:
        """`work(*args)` on the session's helper thread, beside the job's forward pass.

        For plain-data work that needs no model (drawing a captured layer, the lab's
        picture): it runs while the forward goes on, on the core the forward leaves free.
        """
        if self._helper is None:
            self._helper = ThreadPoolExecutor(1, thread_name_prefix="cnnviz-helper")
        return self._helper.submit(work, *args)

    # --- the model ------------------------------------------------------------------
    def engine_for(self, key: ModelKey, context: JobContext = QUIET) -> Engine:
        """The engine for `key`, loading (or downloading) it when another model is loaded."""
        if self.engine is None or key != self._key:
            self.engine = None  # free the old model before building the next
            self._key = None
            self._forget_model()
            self.engine = Engine.load(
                key.arch,
                weights_file=key.weights_file,
                device=key.device,
                allow_download=key.allow_download,
                progress=context.progress,
                cancelled=context.cancelled,
            )
            self._key = key
        return self.engine

    def _forget_model(self) -> None:
        self._tensors.clear()
        self._baselines.clear()
        self._inputs.clear()
        self._forwards.clear()
        self._layer_tree = None
        self._kernel_views.clear()

    def summary(self) -> ModelSummary:
        """The loaded model as plain data."""
        engine = self.engine
        assert engine is not None, "no model loaded"
        return ModelSummary(
            engine.spec.name,
            engine.spec.display_name,
            engine.weights,
            str(engine.device),
            engine.spec.num_classes,
        )

    def layer_tree(self) -> LayerTree:
        """The loaded model's layer tree, built once per model."""
        if self._layer_tree is None:
            from cnnviz.core.inspect.view import layer_tree_for

            assert self.engine is not None, "no model loaded"
            self._layer_tree = layer_tree_for(self.engine)
        return self._layer_tree

    def kernel_views(self, layer: str) -> tuple[KernelGrid, np.ndarray | None]:
        """Kernel grid and (RGB first layer) patches of conv `layer`, once per model.

        A new image or montage setting re-renders the same layer; the weights are the same,
        and the duplicate search is the slow part (~70 ms for a 512x512x3x3 conv).
        """
        if layer not in self._kernel_views:
            from cnnviz.core.inspect.view import kernel_views

            assert self.engine is not None, "no model loaded"
            self._kernel_views[layer] = kernel_views(self.engine.model, layer)
        return self._kernel_views[layer]

    # --- images and pipelines ---------------------------------------------------------
    def image_for(self, source: ImageSource) -> Image.Image:
        """The decoded RGB image for `source`; the last few stay decoded."""
        return self._decoded(source)[0]

    def display_image(self, source: ImageSource) -> np.ndarray:
        """`source` scaled down to at most DISPLAY_MAX_SIDE, as (H, W, 3) uint8."""
        return self._decoded(source)[1]

    def _decoded(self, source: ImageSource) -> tuple[Image.Image, np.ndarray]:
        cached = self._images.get(source)
        if cached is None:
            image = load_image(source)
            display = image.copy()
            display.thumbnail((DISPLAY_MAX_SIDE, DISPLAY_MAX_SIDE))
            cached = self._images.put(source, (image, np.asarray(display)))
        return cached

    def mix_image_for(self, augment: AugmentSettings) -> Image.Image | None:
        """The decoded second image of a MixUp/CutMix pipeline, if it has one."""
        return self.image_for(augment.mix_image) if augment.mix_image is not None else None

    def pipeline_for(self, spec: AugmentSpec) -> AugmentPipeline:
        """The torchvision transforms of `spec`, built once per spec."""
        return self._pipelines.get(spec) or self._pipelines.put(spec, build_pipeline(spec))

    def model_input(self, source: ImageSource, augment: AugmentSettings | None) -> ModelInput:
        """What the model is fed for `source` through the lab's pipeline (cached)."""
        key = (source, augment)
        cached = self._inputs.get(key)
        if cached is None:
            image = self.image_for(source)
            if augment is None:
                cached = ModelInput(image, None)
            else:
                pipeline = self.pipeline_for(augment.spec)
                outcome = pipeline.apply(
                    image, seed=augment.seed, mix_with=self.mix_image_for(augment)
                )
                cached = ModelInput(outcome.image, outcome)
            self._inputs.put(key, cached)
        return cached

    def model_tensor(
        self, engine: Engine, source: ImageSource, augment: AugmentSettings | None
    ) -> torch.Tensor:
        """`model_input` preprocessed for `engine`: the (3, H, W) tensor it is fed (cached:
        a receptive field traced on the shown input preprocesses nothing again)."""
        key = (engine.preprocess, source, augment)
        cached = self._tensors.get(key)
        if cached is None:
            image = self.model_input(source, augment).image
            cached = self._tensors.put(key, engine.to_tensor(image))
        return cached

    # --- forward passes ---------------------------------------------------------------
    def baseline(self, engine: Engine, source: ImageSource, topk: int = 5) -> Prediction:
        """The un-augmented prediction of `source` (cached per model)."""
        key = (source, topk)
        cached = self._baselines.get(key)
        if cached is None:
            cached = self._baselines.put(key, engine.predict(self.image_for(source), topk=topk))
        return cached

    def predict(
        self,
        engine: Engine,
        source: ImageSource,
        augment: AugmentSettings | None,
        *,
        topk: int = 5,
        layer: str | None = None,
        conv_input: bool = False,
        on_captured: OnCaptured | None = None,
    ) -> tuple[Prediction, LayerForward | None]:
        """One forward pass for the image (through the lab), capturing `layer` in it.

        The last two are cached: a montage or panel setting that changes nothing the model
        sees costs no forward pass. Without the lab, the baseline cache serves too.
        `on_captured` hears the layer's output during the pass (not on a cached answer).
        """
        key = (source, augment, topk, layer, conv_input)
        cached = self._forwards.get(key)
        if cached is not None:
            return cached
        if layer is None and augment is None:
            return self.baseline(engine, source, topk), None
        model_input = self.model_input(source, augment)
        result = engine.predict_capturing(
            model_input.image,
            layer,
            topk=topk,
            conv_input=conv_input,
            on_captured=on_captured,
            tensor=self.model_tensor(engine, source, augment),
        )
        if augment is None:
            self._baselines.put((source, topk), result[0])
        return self._forwards.put(key, result)
