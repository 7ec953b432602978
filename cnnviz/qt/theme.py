"""Normal and presentation (projector) looks: fonts, palette and plot colours."""

from __future__ import annotations

from dataclasses import dataclass

import pyqtgraph as pg
from PySide6.QtGui import QColor, QFont, QPalette
from PySide6.QtWidgets import QApplication


@dataclass(frozen=True)
class Theme:
    name: str
    font_scale: float
    background: str
    foreground: str
    accent: str  # bars, highlights
    muted: str  # secondary bars
    warning_bg: str
    warning_fg: str
    marker: str  # a picked channel, a receptive field
    selection: str  # a kernel picked in the filters table
    join: str  # residual additions and concatenations in the layer tree
    pair: tuple[str, str]  # two curves on one plot (BatchNorm's mean and variance)
    series: tuple[str, ...]  # many curves on one plot (Okabe-Ito, colour-blind safe)
    line_width: float


NORMAL = Theme(
    "normal",
    1.0,
    background="#ffffff",
    foreground="#1a1a1a",
    accent="#1f6fd1",
    muted="#9bbbe6",
    warning_bg="#b00020",
    warning_fg="#ffffff",
    marker="#ff1744",
    selection="#00c853",
    join="#2e7d32",
    pair=("#1f6fd1", "#e65100"),
    series=("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"),
    line_width=3,
)
# High contrast for projectors: white on black, saturated yellow accents.
PRESENTATION = Theme(
    "presentation",
    1.7,
    background="#000000",
    foreground="#ffffff",
    accent="#ffd400",
    muted="#8a7a20",
    warning_bg="#ff1744",
    warning_fg="#ffffff",
    marker="#ffd400",
    selection="#69f0ae",
    join="#69f0ae",
    pair=("#56B4E9", "#FF9F40"),
    series=("#56B4E9", "#FF9F40", "#2BD99F", "#F48FCB", "#FFD400", "#B3E0FF", "#FFFFFF"),
    line_width=4,
)

# The banners across the top of the window, alike in both modes: they must stand out.
BANNER_STYLES = {
    "untrained": "background:#b00020; color:white; font-weight:bold; padding:8px;",
    "error": "background:#ffe08a; color:#3a2a00; padding:6px;",
    "notice": "background:#d7ecff; color:#0b2a4a; padding:6px;",
}
# A text field whose content cannot be used.
INVALID_INPUT_STYLE = "border: 2px solid #b00020;"

_base_point_size: float | None = None


def apply_theme(app: QApplication, theme: Theme, *, style_sheet: bool = True) -> None:
    """Set fonts, palette and pyqtgraph defaults for the whole application (and its style
    sheet, unless the caller sets it after giving widgets their fonts)."""
    global _base_point_size
    if _base_point_size is None:
        _base_point_size = app.font().pointSizeF() if app.font().pointSizeF() > 0 else 10.0
    font = QFont(app.font())
    font.setPointSizeF(_base_point_size * theme.font_scale)
    app.setFont(font)
    app.setPalette(_palette(theme) if theme is PRESENTATION else app.style().standardPalette())
    if style_sheet:
        app.setStyleSheet(control_style(theme))
    pg.setConfigOptions(background=theme.background, foreground=theme.foreground)


def _palette(theme: Theme) -> QPalette:
    palette = QPalette()
    bg, fg = QColor(theme.background), QColor(theme.foreground)
    for role in (
        QPalette.Window,
        QPalette.Base,
        QPalette.AlternateBase,
        QPalette.Button,
        QPalette.ToolTipBase,
    ):
        palette.setColor(role, bg)
    for role in (
        QPalette.WindowText,
        QPalette.Text,
        QPalette.ButtonText,
        QPalette.ToolTipText,
        QPalette.BrightText,
    ):
        palette.setColor(role, fg)
    palette.setColor(QPalette.Highlight, QColor(theme.accent))
    palette.setColor(QPalette.HighlightedText, QColor("#000000"))
    palette.setColor(QPalette.PlaceholderText, QColor("#bbbbbb"))
    palette.setColor(QPalette.Disabled, QPalette.Text, QColor("#888888"))
    palette.setColor(QPalette.Disabled, QPalette.WindowText, QColor("#888888"))
    return palette


def control_style(theme: Theme) -> str:
    """Style sheet that keeps check boxes and sliders visible on a black background.

    Fusion draws their outlines a shade darker (or lighter) than the window colour,
    which is invisible when the window is pure black.
    """
    if theme.background.lower() not in ("#000000", "#000"):
        return ""
    fg, accent = theme.foreground, theme.accent
    return f"""
    QCheckBox::indicator {{ width: 0.9em; height: 0.9em; border: 2px solid {fg};
                            background: {theme.background}; }}
    QCheckBox::indicator:checked {{ background: {accent}; border-color: {accent}; }}
    QCheckBox::indicator:disabled {{ border-color: #777777; }}
    QCheckBox::indicator:checked:disabled {{ background: #777777; }}
    QSlider::groove:horizontal {{ height: 0.3em; background: #666666; }}
    QSlider::sub-page:horizontal {{ background: {accent}; }}
    QSlider::handle:horizontal {{ background: {fg}; width: 0.8em; margin: -0.35em 0; }}
    QSlider::sub-page:horizontal:disabled {{ background: #777777; }}
    QPushButton:disabled, QLabel:disabled {{ color: #777777; }}
    QTableView, QTreeView {{ gridline-color: #555555; }}
    """
