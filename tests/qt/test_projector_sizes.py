"""Every workspace at every projector size, normal and presentation: nothing elided, nothing
overlapping, the window no larger than the screen and the star view at a usable size."""

from __future__ import annotations

import itertools

import pytest
from PySide6.QtCore import QRect
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QHeaderView,
    QPushButton,
    QStyle,
    QTabBar,
    QToolBar,
    QWidget,
)
from qt_helpers import make_window, stop_window

SIZES = [(1024, 768), (1280, 720), (1280, 800), (1440, 900), (1920, 1080)]
STAR_SHARE = 0.4  # the star view keeps at least this share of the window's width and height


@pytest.fixture(scope="module")
def projector_window(qapp, tmp_path_factory, samples_dir):
    """One window for the whole walk (a result per workspace, not per size)."""

    class Bot:  # the module-scoped fixture cannot take qtbot; register nothing
        def addWidget(self, widget):  # noqa: N802 - pytest-qt's name
            pass

        def waitSignal(self, signal, timeout):  # noqa: N802 - pytest-qt's name
            from pytestqt.wait_signal import SignalBlocker

            blocker = SignalBlocker(timeout=timeout, raising=True)
            blocker.connect(signal)
            return blocker

    window = make_window(
        Bot(), tmp_path_factory.mktemp("sizes"), image=str(samples_dir / "cat.jpg"), device="cpu"
    )
    yield window
    window.set_presentation(False)
    stop_window(window)
    window.close()


def _settle(window) -> None:
    for _ in range(5):
        QApplication.processEvents()


def _shown(widget: QWidget) -> bool:
    return widget.isVisible() and not widget.visibleRegion().isEmpty()


def _elided(window) -> list[str]:
    """Visible tabs, buttons and column headers whose text does not fit them."""
    problems = []
    for bar in window.findChildren(QTabBar):
        if not _shown(bar):
            continue
        space = bar.style().pixelMetric(QStyle.PM_TabBarTabHSpace, None, bar)
        for i in range(bar.count()):
            text = bar.tabText(i).replace("&", "")
            need = bar.fontMetrics().horizontalAdvance(text) + space // 2
            rect = bar.tabRect(i)
            if rect.width() < need or not bar.rect().contains(rect):
                problems.append(f"tab {text!r} ({rect.width()} < {need} px or out of its bar)")
    for button in window.findChildren(QPushButton):
        text = button.text().replace("&", "")
        if not _shown(button) or not text:
            continue
        margin = button.style().pixelMetric(QStyle.PM_ButtonMargin, None, button)
        need = button.fontMetrics().horizontalAdvance(text) + margin
        if button.width() < need:
            problems.append(f"button {text!r} ({button.width()} < {need} px)")
    for header in window.findChildren(QHeaderView):
        if not _shown(header):
            continue
        model = header.model()
        for i in range(header.count()):
            if header.isSectionHidden(i):
                continue
            text = str(model.headerData(i, header.orientation()) or "")
            need = header.fontMetrics().horizontalAdvance(text) + 6
            if text and header.sectionSize(i) < need:
                problems.append(f"header {text!r} ({header.sectionSize(i)} < {need} px)")
    return problems


def _overlaps(window) -> list[str]:
    """Pairs of visible panels (docks, toolbars, the central area) that cover each other."""
    panels: list[tuple[str, QRect]] = [("central", window.centralWidget().geometry())]
    for dock in window.findChildren(QDockWidget):
        if _shown(dock) and not dock.isFloating():  # a dock behind another's tab is not
            panels.append((dock.windowTitle(), dock.geometry()))
    for bar in window.findChildren(QToolBar):
        if bar.isVisible():
            panels.append((bar.windowTitle(), bar.geometry()))
    problems = []
    for (a, ra), (b, rb) in itertools.combinations(panels, 2):
        inner = ra.intersected(rb)
        if inner.width() > 1 and inner.height() > 1:
            problems.append(f"{a} overlaps {b}")
    return problems


@pytest.mark.parametrize("presentation", [False, True], ids=["normal", "presentation"])
def test_every_workspace_fits_every_projector_size(projector_window, presentation):
    window = projector_window
    window.set_presentation(presentation)
    problems = []
    for name in list(window.workspaces.items):
        window.show_workspace(name)
        for width, height in SIZES:
            window.resize(width, height)
            _settle(window)
            where = f"{name} at {width}×{height}"
            if window.width() > width or window.height() > height:
                problems.append(f"{where}: window grew to {window.width()}×{window.height()}")
            problems += [f"{where}: {p}" for p in _elided(window) + _overlaps(window)]
            star = window.workspaces.items[name].star
            if star.width() < STAR_SHARE * width or star.height() < STAR_SHARE * height * 0.75:
                problems.append(f"{where}: star view only {star.width()}×{star.height()}")
    assert not problems, "\n".join(problems)
