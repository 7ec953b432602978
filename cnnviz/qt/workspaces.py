"""Workspaces: one per activity, each with a star view in the central area and its own docks.

A workspace owns a page of the central stack (its star view) and a set of docks. Switching
saves the dock arrangement of the workspace being left and restores the one of the
workspace entered (or its default), so each workspace remembers how its user arranged it.
Focus mode (F6, or a double-click on a dock's title) lets one panel fill the window.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from PySide6.QtCore import QByteArray, QEvent, QObject, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QFontMetrics, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QLabel,
    QMainWindow,
    QSizePolicy,
    QStackedWidget,
    QTabBar,
    QVBoxLayout,
    QWidget,
)

FOCUS_KEY = "F6"
# Dock sizes as shares of the window: the star view keeps most of it at every size.
SIDE_SHARE = {Qt.LeftDockWidgetArea: 0.2, Qt.RightDockWidgetArea: 0.25}
BOTTOM_SHARE = 0.28
SIDE_MAX = 560
TAB_PADDING = 28  # around a tab's title, at least what Fusion draws
STATE_VERSION = 3  # bump when the default arrangement changes, so old saved states are ignored


@dataclass
class Workspace:
    name: str
    star: QWidget
    shortcut: str | None
    strip: bool  # whether the compact strip (input, model input, top-5) is shown
    docks: list[QDockWidget] = field(default_factory=list)


NARROW_WIDTH = 1200  # below this a dock may start in another area (see DockPlace)


@dataclass(frozen=True)
class DockPlace:
    area: Qt.DockWidgetArea
    visible: bool  # shown by default (False: listed in View, closed until asked for)
    narrow_area: Qt.DockWidgetArea | None = None  # where it starts in a narrow window
    share: float | None = None  # of the window's width or height, if not the area's

    def area_for(self, width: int) -> Qt.DockWidgetArea:
        return self.narrow_area if self.narrow_area and width < NARROW_WIDTH else self.area


class Workspaces(QObject):
    """The workspace bar, the central stack and each workspace's dock arrangement."""

    sigChanged = Signal(str)

    def __init__(
        self, window: QMainWindow, settings: QSettings, on_strip: Callable[[bool], None]
    ) -> None:
        super().__init__(window)
        self.window = window
        self.settings = settings
        self._on_strip = on_strip
        self.items: dict[str, Workspace] = {}
        self.places: dict[QDockWidget, DockPlace] = {}
        self.current: str | None = None
        self.restored = False  # the current workspace came back as its user left it
        self.shares: dict[QDockWidget, float] = {}  # of the window, as its user left them
        self._known_size = (window.width(), window.height())
        self._applying_defaults = False
        self.stack = QStackedWidget()
        self.bar = QTabBar()
        self.bar.setObjectName("workspaceBar")
        self.bar.setExpanding(False)
        self.bar.setDrawBase(False)
        self.bar.setElideMode(Qt.ElideNone)
        self.bar.currentChanged.connect(self._on_tab)
        self.focused: QWidget | None = None  # the panel filling the window, if any
        self._focus_page = _FocusPage()
        self.stack.addWidget(self._focus_page)
        self.focus_title = self._focus_page.hint  # the focused dock panel's title
        self.focus_title.installEventFilter(self)
        self._focus_return: tuple[QDockWidget | None, QByteArray] | None = None
        # Actions, not bare shortcuts: the menus list the same objects, so no key is ambiguous.
        self.actions: dict[str, QAction] = {}
        self.focus_action = QAction("&Focus the current panel", window)
        self.focus_action.setShortcut(QKeySequence(FOCUS_KEY))
        self.focus_action.triggered.connect(lambda _checked=False: self.toggle_focus())
        self.reset_action = QAction("&Reset layout", window)
        self.reset_action.triggered.connect(lambda _checked=False: self.reset_layout())
        window.addActions([self.focus_action, self.reset_action])

    # --- building ---------------------------------------------------------------------
    def add(self, name: str, star: QWidget, shortcut: str | None, *, strip: bool = True) -> None:
        workspace = Workspace(name, star, shortcut, strip)
        self.items[name] = workspace
        self.stack.addWidget(star)
        index = self.bar.addTab(name)
        action = QAction(name, self.window)
        action.setCheckable(True)
        action.triggered.connect(lambda _checked=False: self.show(name))
        if shortcut:
            self.bar.setTabToolTip(index, f"{name} workspace ({shortcut})")
            action.setShortcut(QKeySequence(shortcut))
        self.window.addAction(action)
        self.actions[name] = action

    def add_dock(
        self,
        dock: QDockWidget,
        area: Qt.DockWidgetArea,
        workspace: str,
        *,
        visible: bool = True,
        narrow_area: Qt.DockWidgetArea | None = None,
        share: float | None = None,
    ) -> None:
        self.items[workspace].docks.append(dock)
        self.places[dock] = DockPlace(area, visible, narrow_area, share)
        dock.installEventFilter(self)
        if self.current != workspace:
            dock.hide()

    def workspace_of(self, dock: QDockWidget) -> str | None:
        return next((w.name for w in self.items.values() if dock in w.docks), None)

    # --- switching ----------------------------------------------------------------------
    def show(self, name: str) -> None:
        if name == self.current or name not in self.items:
            return
        if self.focused is not None:
            self.toggle_focus()
        if self.current is not None:
            self.save_state()
        self.current = name
        workspace = self.items[name]
        self._current_page(workspace.star)
        self._on_strip(workspace.strip)
        state = self.settings.value(self._key(name))
        self._apply_default_visibility(workspace)
        self.restored = isinstance(state, QByteArray) and self.window.restoreState(
            state, STATE_VERSION
        )
        if self.restored:
            self._hide_others(workspace)
        else:
            self.reset_layout()
        index = list(self.items).index(name)
        if self.bar.currentIndex() != index:
            self.bar.blockSignals(True)
            self.bar.setCurrentIndex(index)
            self.bar.blockSignals(False)
        for other, action in self.actions.items():
            action.setChecked(other == name)
        self.settings.setValue("workspace", name)
        self.sigChanged.emit(name)

    def _current_page(self, page: QWidget) -> None:
        """Show `page`; the pages not shown do not count in the window's minimum size."""
        for index in range(self.stack.count()):
            other = self.stack.widget(index)
            policy = QSizePolicy.Preferred if other is page else QSizePolicy.Ignored
            other.setSizePolicy(policy, policy)
        self.stack.setCurrentWidget(page)

    def _on_tab(self, index: int) -> None:
        if 0 <= index < len(self.items):
            self.show(list(self.items)[index])

    def save_state(self) -> None:
        if self.current is not None and self.focused is None:
            state = self.window.saveState(STATE_VERSION)
            self.settings.setValue(self._key(self.current), state)

    def _key(self, name: str) -> str:
        return f"workspaces/{name}/state"

    def _apply_default_visibility(self, workspace: Workspace) -> None:
        self._hide_others(workspace)
        for dock in workspace.docks:
            dock.setVisible(self.places[dock].visible)

    def _hide_others(self, workspace: Workspace) -> None:
        for other in self.items.values():
            if other is not workspace:
                for dock in other.docks:
                    if dock not in workspace.docks:
                        dock.hide()

    # --- the default arrangement ----------------------------------------------------------
    def reset_layout(self) -> None:
        """The current workspace's docks where they start: sides, then tabbed groups."""
        if self.current is None:
            return
        if self.focused is not None:
            self.toggle_focus()
        workspace = self.items[self.current]
        window = self.window
        groups: dict[Qt.DockWidgetArea, list[QDockWidget]] = {}
        for dock in workspace.docks:
            place = self.places[dock]
            area = place.area_for(window.width())
            dock.setFloating(False)
            window.addDockWidget(area, dock)
            dock.setVisible(place.visible)
            if place.visible:
                groups.setdefault(area, []).append(dock)
        self._hide_others(workspace)
        for docks in groups.values():
            for dock in docks[1:]:
                window.tabifyDockWidget(docks[0], dock)
            docks[0].raise_()
        self.default_sizes(groups)
        self.settings.remove(self._key(self.current))

    def default_sizes(
        self, groups: dict[Qt.DockWidgetArea, list[QDockWidget]] | None = None
    ) -> None:
        """Side docks a share of the window's width, bottom docks a share of its height."""
        window = self.window
        if groups is None:
            groups = self._visible_groups()
        width, height = max(window.width(), 640), max(window.height(), 480)
        sides = [
            (docks[0], self.places[docks[0]].share or SIDE_SHARE[area])
            for area, docks in groups.items()
            if area in SIDE_SHARE and docks
        ]
        # What the layout makes of these sizes in this window is not the user's choice:
        # remember the intended shares, and ignore the resizes until the layout settles.
        self._applying_defaults = True
        QTimer.singleShot(0, self._defaults_applied)
        if sides:
            window.resizeDocks(
                [d for d, _ in sides],
                [self._side_width(d, min(SIDE_MAX, width * share)) for d, share in sides],
                Qt.Horizontal,
            )
            self.shares.update({d: min(SIDE_MAX / width, share) for d, share in sides})
        bottom = groups.get(Qt.BottomDockWidgetArea)
        if bottom:
            window.resizeDocks(bottom[:1], [int(height * BOTTOM_SHARE)], Qt.Vertical)
            self.shares[bottom[0]] = BOTTOM_SHARE

    def _defaults_applied(self) -> None:
        self._applying_defaults = False

    def window_resized(self, old_width: int, old_height: int) -> None:
        """Keep each side dock's share of the window (and each bottom dock's share of its
        height) when the window is resized: the star view then grows and shrinks with it
        instead of absorbing every change alone."""
        window = self.window
        width, height = window.width(), window.height()
        self._known_size = (width, height)
        if self.current is None or self.focused is not None or old_width <= 0:
            return
        firsts = self._firsts()
        sides = [d for a, d in firsts.items() if a in SIDE_SHARE]
        if sides and width != old_width:
            # The share the user chose (or the default), not the width a smaller window
            # squeezed the dock to: a trip to 1024 pixels and back leaves no trace.
            shares = [self.shares.get(d, d.width() / old_width) for d in sides]
            widths = [self._side_width(d, s * width) for d, s in zip(sides, shares, strict=True)]
            window.resizeDocks(sides, widths, Qt.Horizontal)
        bottom = firsts.get(Qt.BottomDockWidgetArea)
        if bottom is not None and height != old_height and old_height > 0:
            share = self.shares.get(bottom, bottom.height() / old_height)
            window.resizeDocks([bottom], [round(share * height)], Qt.Vertical)
        self.rehome(old_width, width)

    def _visible_groups(self) -> dict[Qt.DockWidgetArea, list[QDockWidget]]:
        """The current workspace's docked, visible docks by dock area, in their order."""
        groups: dict[Qt.DockWidgetArea, list[QDockWidget]] = {}
        for dock in self.items[self.current].docks if self.current else []:
            if dock.isVisible() and not dock.isFloating():
                groups.setdefault(self.window.dockWidgetArea(dock), []).append(dock)
        return groups

    def _firsts(self) -> dict[Qt.DockWidgetArea, QDockWidget]:
        """The first visible dock of the current workspace in each dock area."""
        return {area: docks[0] for area, docks in self._visible_groups().items()}

    def _remember_share(self, dock: QDockWidget) -> None:
        """A dock resized while the window kept its size was resized by its user (or by a
        default): remember its share of the window."""
        window = self.window
        stale = window.size().toTuple() != self._known_size or self._applying_defaults
        if stale or dock.isFloating():
            return  # the window is being resized: window_resized applies the shares
        area = window.dockWidgetArea(dock)
        if area in SIDE_SHARE and window.width() > 0:
            self.shares[dock] = dock.width() / window.width()
        elif area == Qt.BottomDockWidgetArea and window.height() > 0:
            self.shares[dock] = dock.height() / window.height()

    def rehome(self, old_width: int, width: int) -> None:
        """A dock still where it starts moves to where it starts at the new width (the
        sweeps go under the lab in a narrow window, beside it in a wide one)."""
        window = self.window
        assert self.current is not None
        moved = False
        for dock in self.items[self.current].docks:
            place = self.places[dock]
            if place.narrow_area is None or dock.isFloating() or not dock.isVisible():
                continue
            was, now = place.area_for(old_width), place.area_for(width)
            if was != now and window.dockWidgetArea(dock) == was:
                window.addDockWidget(now, dock)
                moved = True
        if moved:
            self.default_sizes()

    def _side_width(self, dock: QDockWidget, width: float) -> int:
        """`width`, but never so narrow that the titles of `dock`'s tab group are cut."""
        group = [dock, *self.window.tabifiedDockWidgets(dock)]
        if len(group) < 2:
            return int(width)
        metrics = QFontMetrics(QApplication.font())
        need = sum(metrics.horizontalAdvance(d.windowTitle()) + TAB_PADDING for d in group)
        return int(max(width, need))

    # --- focus --------------------------------------------------------------------------
    def current_panel(self) -> tuple[QDockWidget | None, QWidget]:
        """The panel the user is working in: the dock holding the keyboard focus, else the star."""
        widget = QApplication.focusWidget()
        while widget is not None:
            if isinstance(widget, QDockWidget) and widget in self.places:
                return widget, widget.widget()
            widget = widget.parentWidget()
        assert self.current is not None
        return None, self.items[self.current].star

    def toggle_focus(self, dock: QDockWidget | None = None) -> None:
        """Let the current panel (or `dock`'s) fill the window; called again, put it back."""
        if self.focused is not None:
            self._leave_focus()
            return
        if self.current is None:
            return
        source, panel = (dock, dock.widget()) if dock is not None else self.current_panel()
        self._focus_return = (source, self.window.saveState(STATE_VERSION))
        for other in self.places:
            other.hide()
        if source is not None:
            self.focus_title.setText(
                f"<b>{source.windowTitle()}</b> · {FOCUS_KEY} or a double-click here returns"
            )
            source.setWidget(QWidget())  # the panel moves out; its dock keeps a placeholder
            self._focus_page.hold(panel)
            self._current_page(self._focus_page)
        self._on_strip(False)
        self.focused = panel
        self.window.statusBar().showMessage(
            f"Focus: press {FOCUS_KEY} (or double-click a title) to return", 5000
        )

    def _leave_focus(self) -> None:
        assert self._focus_return is not None and self.focused is not None
        source, state = self._focus_return
        panel, self.focused, self._focus_return = self.focused, None, None
        if source is not None:
            self._focus_page.release(panel)
            old = source.widget()
            source.setWidget(panel)
            old.deleteLater()
        workspace = self.items[self.current or ""]
        self._current_page(workspace.star)
        self._on_strip(workspace.strip)
        self.window.restoreState(state, STATE_VERSION)
        self._hide_others(workspace)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        if event.type() == QEvent.Resize and watched in self.places and watched.isVisible():
            self._remember_share(watched)
        # A double-click on a dock's title focuses its panel (Qt would float the dock); on
        # the focused panel's title it gives the panel back.
        if event.type() == QEvent.MouseButtonDblClick and watched is self.focus_title:
            self.toggle_focus()
            return True
        if event.type() == QEvent.MouseButtonDblClick and isinstance(watched, QDockWidget):
            content = watched.widget()
            if content is None or event.position().y() < content.geometry().top():
                self.toggle_focus(watched if self.focused is None else None)
                return True
        return super().eventFilter(watched, event)


class _FocusPage(QWidget):
    """The central page that holds a dock's panel while it is focused."""

    def __init__(self) -> None:
        super().__init__()
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self.hint = QLabel("")
        self.hint.setObjectName("focusTitle")
        self._layout.addWidget(self.hint)

    def hold(self, panel: QWidget) -> None:
        self._layout.addWidget(panel, 1)
        panel.show()

    def release(self, panel: QWidget) -> None:
        self._layout.removeWidget(panel)
