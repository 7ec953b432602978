"""Wires the Teach workspace (train vs eval, batch norm, residual adds, preprocessing, policy
draws, fine-tuning) into the main window.

Short views (batch norm, residual, preprocessing, policy draws) follow the result on screen,
but only while the Teach workspace is current: a hidden workspace does no work. The
train-mode passes and the fine-tune are long jobs, run on request, with progress and Esc.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, TypeVar

from PySide6.QtCore import QObject, Slot

from cnnviz.qt.panels.teach_panel import TeachPanel

if TYPE_CHECKING:
    from cnnviz.core.requests import ModelKey, Request
    from cnnviz.core.teach.finetune import FineTuneResult
    from cnnviz.core.teach.requests import TeachLayers
    from cnnviz.qt.main_window import MainWindow
    from cnnviz.qt.worker import Ticket

R = TypeVar("R")
WORKSPACE = "Teach"


class TeachController(QObject):
    """Owns the Teach panel; submits the current tab's request when it can be seen."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.panel = TeachPanel()
        self.layers_for: ModelKey | None = None
        self.tickets: dict[str, Ticket] = {}
        self.head_dir = tempfile.mkdtemp(prefix="cnnviz-heads-")
        window.destroyed.connect(partial(shutil.rmtree, self.head_dir, True))
        self.head_path: str | None = None
        self.head_arch: str | None = None
        window.add_workspace(WORKSPACE, self.panel, shortcut="Ctrl+7")
        window.themed_widgets.append(self.panel)
        if hasattr(window, "theme"):  # else set_presentation themes it with the others
            self.panel.apply_theme(window.theme)
        window.sigResultShown.connect(lambda _result: self.refresh())
        window.sigWorkspaceChanged.connect(lambda _name: self.refresh())
        panel = self.panel
        panel.tabs.currentChanged.connect(lambda _i: self.refresh())
        panel.batchnorm.sigLayerChosen.connect(lambda _n: self.refresh())
        panel.residual.sigNodeChosen.connect(lambda _n: self.refresh())
        panel.pretrained.sigLayerChosen.connect(lambda _n: self.refresh())
        panel.dropout.sigRun.connect(self.run_train_eval)
        panel.dropout.run_row.sigCancel.connect(lambda: self.cancel("dropout"))
        panel.finetune.sigRun.connect(self.run_finetune)
        panel.finetune.run_row.sigCancel.connect(lambda: self.cancel("finetune"))
        panel.finetune.sigUseHead.connect(self.use_head)

    # --- the views that follow the shown result -----------------------------------------
    def refresh(self) -> None:
        """Ask for the current tab's view of the shown image, if the tab can be seen."""
        window = self.window
        request = window.shown_request
        if window.workspace != WORKSPACE or request is None or window.worker_thread is None:
            return
        if self.layers_for != request.model:
            self._ask_layers(request.model)
            return  # the layer lists come back, then this runs again
        from cnnviz.core.teach import requests as teach

        panel, current = self.panel, self.panel.current()
        if current is panel.batchnorm and panel.batchnorm.layer():
            self._submit(
                "batchnorm",
                teach.BatchNormRequest(
                    request.model, request.image, panel.batchnorm.layer(), request.augment
                ),
                panel.batchnorm.show_view,
                panel.batchnorm.show_error,
            )
        elif current is panel.residual and panel.residual.node():
            self._submit(
                "residual",
                teach.ResidualRequest(
                    request.model, request.image, panel.residual.node(), request.augment
                ),
                panel.residual.show_view,
                panel.residual.show_error,
            )
        elif current is panel.pretrained and panel.pretrained.layer():
            self._submit(
                "pretrained",
                teach.PretrainedRequest(
                    request.model, request.image, panel.pretrained.layer(), request.augment
                ),
                panel.pretrained.show_result,
                panel.pretrained.show_error,
            )
        elif current is panel.preprocess:
            self._submit(
                "preprocess",
                teach.PreprocessRequest(request.model, request.image, request.augment),
                panel.preprocess.show_outcome,
                panel.preprocess.show_error,
            )
        elif current is panel.policy:
            augment = request.augment
            if augment is None:
                panel.policy.show_draws(())
                return
            self._submit(
                "policy",
                teach.PolicyDrawRequest(request.image, augment),
                lambda draws: panel.policy.show_draws(draws, augment.seed),
                panel.policy.show_error,
            )

    def _ask_layers(self, model: ModelKey) -> None:
        from cnnviz.core.teach.requests import TeachLayersRequest

        def got(layers: TeachLayers) -> None:
            self.layers_for = model
            self.panel.batchnorm.set_layers(layers.batchnorm)
            self.panel.residual.set_nodes(layers.residual_adds)
            self.panel.pretrained.set_layers(layers.conv)
            self.refresh()

        self._submit("layers", TeachLayersRequest(model), got, self.window.show_error)

    def _submit(
        self,
        key: str,
        request: Request[R],
        show: Callable[[R], None],
        failed: Callable[[str], None],
        *,
        progress: Callable[[int, int], None] | None = None,
    ) -> Ticket | None:
        worker = self.window.worker_thread
        if worker is None:
            return None
        ticket = worker.submit(
            request,
            show,
            on_failed=lambda failure: failed(failure.message),
            on_progress=(lambda _w, done, total: progress(done, total)) if progress else None,
        )
        self.tickets[key] = ticket
        return ticket

    # --- long jobs --------------------------------------------------------------------
    @Slot(int, object, bool)
    def run_train_eval(self, passes: int, dropout_p: float | None, batchnorm: bool) -> None:
        """N train-behaviour passes of the shown image, its Dropout mask and the BN trap."""
        from cnnviz.core.teach.requests import TrainEvalRequest

        request = self.window.shown_request
        if request is None:
            return
        view = self.panel.dropout
        view.set_running(True)
        ticket = self._submit(
            "dropout",
            TrainEvalRequest(
                request.model,
                request.image,
                request.augment,
                passes=passes,
                batchnorm=batchnorm,
                dropout_p=dropout_p,
            ),
            view.show_outcome,
            view.show_error,
            progress=view.show_progress,
        )
        if ticket is not None:
            self.window.track_job(ticket)

    @Slot(str, int, float)
    def run_finetune(self, folder: str, epochs: int, holdout: float) -> None:
        """Fine-tune a new head for the shown model's architecture on `folder`."""
        from cnnviz.core.requests import ModelKey
        from cnnviz.core.teach.requests import FineTuneRequest

        shown = self.window.shown_request
        if shown is None:
            return
        # The backbone is the architecture's own pre-trained model, not a loaded head.
        model = ModelKey(shown.model.arch, None, shown.model.device)
        out = os.path.join(
            self.head_dir, f"{model.arch}-head-{len(os.listdir(self.head_dir))}.safetensors"
        )
        view = self.panel.finetune
        view.set_running(True)

        def show(result: FineTuneResult) -> None:
            if not result.cancelled:
                self.head_path, self.head_arch = out, model.arch
            view.show_result(result)
            if not result.cancelled:
                view.text.setText(view.text.text() + f" Head saved to {out}.")

        ticket = self._submit(
            "finetune",
            FineTuneRequest(model, folder, epochs=epochs, holdout=holdout, out=out),
            show,
            view.show_error,
            progress=view.show_progress,
        )
        if ticket is not None:
            self.window.track_job(ticket)

    def use_head(self) -> None:
        """Predict the fine-tuned classes in the main view (the head as the weights file)."""
        if self.head_path is None or self.head_arch is None:
            return
        if self.window.arch != self.head_arch:
            self.window.set_arch(self.head_arch)
        self.window.set_weights_file(self.head_path)

    def cancel(self, key: str) -> None:
        ticket = self.tickets.get(key)
        if ticket is not None and self.window.worker_thread is not None:
            self.window.worker_thread.cancel(ticket)


def install_teach(window: MainWindow) -> TeachController:
    """Add the Teach workspace to `window` once; later calls return the same controller."""
    controller = getattr(window, "teach", None)
    if controller is None:
        controller = TeachController(window)
        window.teach = controller
    return controller
