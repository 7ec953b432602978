"""Workspaces in the real window: switching, remembered arrangements, Reset layout, focus,
presentation mode on the first press and the compact strip's numbers."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QFontInfo, QMouseEvent
from PySide6.QtWidgets import QApplication, QDockWidget, QHeaderView, QMenu, QTabBar, QTreeWidget
from qt_helpers import make_window, stop_window


@pytest.fixture
def window(qtbot, tmp_path, samples_dir):
    w = make_window(qtbot, tmp_path, image=str(samples_dir / "cat.jpg"), device="cpu")
    w.resize(1440, 900)
    yield w
    w.set_presentation(False)
    stop_window(w)


def _settle(qtbot, window=None) -> None:
    """Let the layout settle and, with `window`, its newest request be answered (a job
    still running at the end of a test would outlive the window's close)."""
    qtbot.wait(30)
    if window is not None:
        qtbot.waitUntil(lambda: window.shown_request is window.latest_request, timeout=120_000)


def _shown_docks(window) -> set[str]:
    return {
        d.windowTitle()
        for d in window.findChildren(QDockWidget)
        if d.isVisible() and not d.isFloating()
    }


def test_each_workspace_shows_its_star_and_only_its_docks(qtbot, window):
    bar = window.workspaces.bar
    assert [bar.tabText(i) for i in range(bar.count())][:3] == ["Classify", "Layers", "Augment"]
    assert window.workspace == "Classify" and window.is_shown(window.image_panel)
    assert not window.strip.isVisible()  # Classify shows the images themselves, large
    assert _shown_docks(window) == {"Predictions", "True label"}
    qtbot.keyClick(window, Qt.Key_2, Qt.ControlModifier)  # the Layers shortcut
    _settle(qtbot, window)
    explorer = window.layer_explorer
    assert window.workspace == "Layers" and window.is_shown(explorer.maps)
    assert not window.is_shown(window.image_panel) and window.strip.isVisible()
    assert _shown_docks(window) == {"Layers", "Statistics", "Filters", "Matmul"}
    bar.setCurrentIndex(2)  # a click on the Augment tab
    _settle(qtbot, window)
    assert window.workspace == "Augment" and window.is_shown(window.augment_lab.lab_host)
    assert _shown_docks(window) == {"Sweep and stability"}


def test_the_strip_shows_the_same_numbers_as_the_predictions(qtbot, window):
    window.show_workspace("Layers")
    _settle(qtbot, window)
    top = window.shown_result.prediction.top
    expected = [f"{c.rank}. {c.label} {c.probability * 100:.1f}%" for c in top]
    assert window.strip.row_texts() == expected
    assert [window.predictions.table.item(i, 1).text() for i in range(5)] == [c.label for c in top]
    assert (window.strip.model_input.image == window.shown_result.prediction.model_input).all()


def test_a_workspace_remembers_its_arrangement_and_reset_restores_the_default(qtbot, window):
    window.show_workspace("Layers")
    _settle(qtbot, window)
    tree = window.layer_explorer.tree_dock
    default_width = tree.width()
    stats = window.layer_explorer.docks["stats"]
    stats.close()  # the user closes a panel and widens the tree
    window.resizeDocks([tree], [default_width + 150], Qt.Horizontal)
    _settle(qtbot, window)
    widened = tree.width()
    assert widened > default_width + 100
    window.show_workspace("Classify")
    window.show_workspace("Layers")  # and back: as the user left it
    _settle(qtbot, window)
    assert not stats.isVisible() and abs(tree.width() - widened) <= 2
    # A projector-sized window and back leaves it degraded; Reset layout restores it.
    window.resize(1024, 768)
    _settle(qtbot, window)
    window.resize(1440, 900)
    _settle(qtbot, window)
    window.workspaces.reset_action.trigger()
    _settle(qtbot, window)
    assert stats.isVisible()
    assert abs(tree.width() - default_width) <= 2


def test_f6_focuses_the_star_and_each_dock_and_gives_them_back(qtbot, window):
    window.show_workspace("Layers")
    _settle(qtbot, window)
    maps = window.layer_explorer.maps
    star_size = maps.size()
    window.workspaces.focus_action.trigger()  # F6 with no dock focused: the star
    _settle(qtbot, window)
    assert _shown_docks(window) == set() and not window.strip.isVisible()
    assert maps.width() > star_size.width() and maps.height() > star_size.height()
    window.workspaces.focus_action.trigger()
    _settle(qtbot, window)
    assert _shown_docks(window) == {"Layers", "Statistics", "Filters", "Matmul"}
    assert maps.size() == star_size
    for dock in window.workspaces.items["Layers"].docks:
        dock.raise_()
        _settle(qtbot, window)
        panel = dock.widget()
        before = panel.size()
        panel.setFocus()  # the dock holding the keyboard focus is the one that fills
        window.workspaces.focus_action.trigger()
        _settle(qtbot, window)
        assert window.workspaces.focused is panel and panel.isVisible()
        assert panel.width() * panel.height() > 1.5 * before.width() * before.height()
        assert not window.is_shown(maps)
        window.workspaces.focus_action.trigger()
        _settle(qtbot, window)
        assert dock.widget() is panel and window.is_shown(maps)


def test_a_double_click_on_a_dock_title_focuses_it(qtbot, window):
    dock = window.predictions_dock
    panel = dock.widget()
    before = panel.width()
    title = QPointF(20, 5)  # inside the title bar, above the panel
    assert title.y() < panel.geometry().top()
    event = QMouseEvent(
        QEvent.MouseButtonDblClick, title, title, Qt.LeftButton, Qt.LeftButton, Qt.NoModifier
    )
    QApplication.sendEvent(dock, event)
    _settle(qtbot, window)
    assert window.workspaces.focused is panel and not dock.isFloating()
    assert panel.width() > before + 300
    hint = window.workspaces.focus_title  # in focus mode the panel's title is above it
    assert dock.windowTitle() in hint.text()
    QApplication.sendEvent(hint, event)  # a double-click there gives it back
    _settle(qtbot, window)
    assert window.workspaces.focused is None and dock.widget() is panel


def test_presentation_mode_grows_every_widget_on_the_first_press(qtbot, window):
    window.show_workspace("Layers")
    _settle(qtbot, window)
    menu = window.menus.recent
    assert isinstance(menu, QMenu)
    samples = {
        "tree": window.layer_explorer.tree_panel.findChild(QTreeWidget),
        "header": window.predictions.table.horizontalHeader(),
        "menu": menu,
        "status": window.status_labels["device"],
    }
    assert all(isinstance(w, object) and w is not None for w in samples.values())
    tab_bars = [b for b in window.findChildren(QTabBar) if b.isVisible()]
    docks = window.findChildren(QDockWidget)
    before = {k: QFontInfo(w.font()).pixelSize() for k, w in samples.items()}
    before_tabs = [b.tabRect(0).height() for b in tab_bars]
    before_titles = [QFontInfo(d.font()).pixelSize() for d in docks]
    window.menus.presentation.trigger()  # F5, once
    _settle(qtbot, window)
    after = {k: QFontInfo(w.font()).pixelSize() for k, w in samples.items()}
    for key in samples:
        assert after[key] >= 1.5 * before[key], (key, before, after)
    after_tabs = [(b.tabText(0), b.tabRect(0).height()) for b in tab_bars]
    assert all(t[1] > h for t, h in zip(after_tabs, before_tabs, strict=True)), (
        after_tabs,
        before_tabs,
    )
    titles = [QFontInfo(d.font()).pixelSize() for d in docks]
    assert all(t >= 1.5 * b for t, b in zip(titles, before_titles, strict=True))
    header = samples["header"]
    assert isinstance(header, QHeaderView)
    assert header.sectionSize(1) >= header.fontMetrics().horizontalAdvance("Class")
