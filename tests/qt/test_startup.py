"""Start-up: the window paints before torch is imported, in a fresh process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

PROBE = textwrap.dedent(
    """
    import json, sys
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication
    import cnnviz.app as app_module
    from cnnviz.qt.main_window import MainWindow

    seen = {}
    original = MainWindow.paintEvent

    def paint(self, event):
        if "torch_at_first_paint" not in seen:
            seen["torch_at_first_paint"] = "torch" in sys.modules
        original(self, event)

    MainWindow.paintEvent = paint
    original_start = MainWindow.start

    def start(self):
        seen.setdefault("painted_before_start", "torch_at_first_paint" in seen)
        original_start(self)
        QTimer.singleShot(0, QApplication.instance().quit)

    MainWindow.start = start
    app_module.run_app(app_module_args := type("A", (), {"size": (800, 600)})())
    seen["torch_after_start"] = "torch" in sys.modules
    print(json.dumps(seen))
    """
)


def test_the_window_paints_before_torch_is_imported(tmp_path):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", HOME=str(tmp_path))
    env["XDG_CONFIG_HOME"] = str(tmp_path)
    done = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["torch_at_first_paint"] is False  # nothing imported torch before the paint
    assert seen["painted_before_start"] is True  # the worker started only after it
    assert seen["torch_after_start"] is True  # and the worker's start did bring torch in
