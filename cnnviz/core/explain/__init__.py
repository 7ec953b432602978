"""Why a model decides: attribution maps (Grad-CAM, gradients, integrated gradients, occlusion).

`explain(engine, image, method, target_class=..., layer=..., options=...)` is the entry
point; its `Explanation` is plain data (numpy maps, numbers, strings) a panel draws as is.
`map_to_original` and `render_overlay` put a map on the original photo or the model input;
`contrast`, `explain_grid` and `occluder_probe` serve the side-by-side views, and
`sanity_check` the cascading-randomisation test of Adebayo et al. (2018).
"""

from cnnviz.core.explain.cam import NotSpatialLayerError, default_cam_layer
from cnnviz.core.explain.classes import UnknownClassError, resolve_class
from cnnviz.core.explain.compare import (
    Contrast,
    OccluderProbe,
    contrast,
    explain_grid,
    occluder_probe,
)
from cnnviz.core.explain.geometry import (
    PreprocessGeometry,
    map_to_original,
    preprocess_geometry,
    resample,
    to_original,
)
from cnnviz.core.explain.methods import (
    CAM_METHODS,
    METHOD_TITLES,
    METHODS,
    ExplainOptions,
    Explanation,
    OptionError,
    UnknownMethodError,
    check_method,
    compute_map,
    explain,
)
from cnnviz.core.explain.occlusion import OcclusionGrid
from cnnviz.core.explain.overlay import render_overlay
from cnnviz.core.explain.sanity import SanityCheck, SanityStep, sanity_check, spearman

__all__ = [
    "CAM_METHODS",
    "METHODS",
    "METHOD_TITLES",
    "Contrast",
    "ExplainOptions",
    "Explanation",
    "NotSpatialLayerError",
    "OccluderProbe",
    "OcclusionGrid",
    "OptionError",
    "PreprocessGeometry",
    "SanityCheck",
    "SanityStep",
    "UnknownClassError",
    "UnknownMethodError",
    "check_method",
    "compute_map",
    "contrast",
    "default_cam_layer",
    "explain",
    "explain_grid",
    "map_to_original",
    "occluder_probe",
    "preprocess_geometry",
    "render_overlay",
    "resample",
    "resolve_class",
    "sanity_check",
    "spearman",
    "to_original",
]
