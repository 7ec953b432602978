"""Why a model decides: attribution maps (Grad-CAM, gradients, integrated gradients, occlusion)."""
