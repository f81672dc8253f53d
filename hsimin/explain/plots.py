"""Plots of spectra and attributions over wavelength, with the diagnostic absorption features marked.

numpy + matplotlib only (no torch, no pyplot): figures are ``matplotlib.figure.Figure`` objects that a caller
saves (``hsimin.io.writers.save_figure``) or embeds (the napari spectrum inspector draws into its own axes with
:func:`mark_features` and :func:`draw_attribution`).
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

__all__ = ["DIAGNOSTIC_FEATURES", "draw_attribution", "draw_spectra", "mark_features", "plot_attribution"]

DIAGNOSTIC_FEATURES: tuple[tuple[float, str], ...] = (
    (1400.0, "OH"),
    (1900.0, "H2O"),
    (2160.0, "kaolin"),
    (2200.0, "AlOH"),
    (2250.0, "FeOH"),
    (2330.0, "MgOH/CO3"),
)
"""SWIR absorption positions (nm, label) marked on every plot: the 1400 nm OH and 1900 nm water bands, the
2160 nm kaolin doublet, the 2200 nm AlOH (white mica, kaolinite, smectite), 2250 nm FeOH (chlorite, epidote) and
2330 nm MgOH / carbonate features. Pass your own list (e.g. adding alunite 1480, epidote 1550 nm) to the plot
functions; entries with an empty label are drawn without text."""


def mark_features(ax, features: Sequence[tuple[float, str]] = DIAGNOSTIC_FEATURES, *, labels: bool = True,
                  color: str = "0.55", xlim: Sequence[float] | None = None) -> list:
    """Dashed vertical lines at the diagnostic positions that fall inside the axes' x range (or ``xlim``), with
    their labels along the top. Returns the artists drawn."""
    lo, hi = ax.get_xlim() if xlim is None else xlim
    out = []
    for nm, label in features:
        if not lo <= nm <= hi:
            continue
        out.append(ax.axvline(nm, color=color, lw=0.8, ls="--", zorder=0))
        if labels and label:
            out.append(ax.text(nm, 0.98, label, transform=ax.get_xaxis_transform(), rotation=90,
                               ha="right", va="top", fontsize=6.5, color="0.35", clip_on=True))
    return out


def draw_spectra(ax, wavelengths, spectra, labels: Sequence[str] | None = None, colors: Sequence[Any] | None = None,
                 *, ylabel: str = "reflectance", lw: float = 1.2) -> None:
    """Plot one spectrum (B,) or several (n, B) over wavelength (nm)."""
    wl = np.asarray(wavelengths, dtype=np.float64)
    S = np.atleast_2d(np.asarray(spectra, dtype=np.float64))
    for i, s in enumerate(S):
        ax.plot(wl, s, lw=lw, label=None if labels is None else labels[i],
                color=None if colors is None else colors[i])
    ax.set_xlabel("wavelength (nm)")
    ax.set_ylabel(ylabel)
    ax.set_xlim(float(wl.min()), float(wl.max()))


def draw_attribution(ax, attribution, *, features: Sequence[tuple[float, str]] = DIAGNOSTIC_FEATURES,
                     title: bool = True, feature_labels: bool = True) -> None:
    """Attributions over wavelength as a filled curve (positive red: towards the class; negative blue: against),
    with the diagnostic features marked."""
    wl = np.asarray(attribution.wavelengths, dtype=np.float64)
    v = np.asarray(attribution.values, dtype=np.float64)
    ax.axhline(0.0, color="0.3", lw=0.6)
    ax.fill_between(wl, 0.0, v, where=v >= 0, color="#d62728", alpha=0.7, lw=0, step="mid")
    ax.fill_between(wl, 0.0, v, where=v < 0, color="#1f77b4", alpha=0.7, lw=0, step="mid")
    ax.plot(wl, v, color="0.2", lw=0.6, drawstyle="steps-mid")
    ax.set_xlim(float(wl.min()), float(wl.max()))
    ax.set_xlabel("wavelength (nm)")
    unit = {"ig": f"IG ({attribution.output})", "saliency": f"|d {attribution.output} / dx|",
            "occlusion": f"occlusion ({attribution.output} drop)"}.get(attribution.method, attribution.method)
    ax.set_ylabel(unit)
    if title:
        name = attribution.target_name or f"class {attribution.target}"
        p = None if attribution.probabilities is None else float(attribution.probabilities[attribution.target])
        ax.set_title(f"{attribution.method} attribution for {name}" + ("" if p is None else f" (p = {p:.2f})"),
                     fontsize=9)
    mark_features(ax, features, labels=feature_labels)


def plot_attribution(attribution, *, raw_spectrum=None, raw_wavelengths=None, title: str | None = None,
                     features: Sequence[tuple[float, str]] = DIAGNOSTIC_FEATURES, figsize=(8.0, 6.0)):
    """A figure: the spectrum on top (the raw reflectance when given, and the model input), the attributions
    below, both with the diagnostic features marked. Returns a ``matplotlib.figure.Figure``."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, dpi=110, layout="constrained")
    ax1, ax2 = fig.subplots(2, 1, sharex=False)
    wl = np.asarray(attribution.wavelengths, dtype=np.float64)
    if raw_spectrum is not None:
        rw = np.asarray(raw_wavelengths if raw_wavelengths is not None else wl, dtype=np.float64)
        draw_spectra(ax1, rw, raw_spectrum, ["reflectance"], ["k"])
    if attribution.inputs is not None:
        target_ax = ax1.twinx() if raw_spectrum is not None else ax1
        target_ax.plot(wl, attribution.inputs, color="#2ca02c", lw=1.0, label="model input")
        target_ax.set_ylabel("model input" if raw_spectrum is not None else "model input")
        if raw_spectrum is None:
            ax1.set_xlabel("wavelength (nm)")
    lo = min(wl.min(), ax1.get_xlim()[0] if raw_spectrum is not None else wl.min())
    hi = max(wl.max(), ax1.get_xlim()[1] if raw_spectrum is not None else wl.max())
    ax1.set_xlim(lo, hi)
    handles = [h for a in fig.axes[:1] + fig.axes[2:] for h in a.get_lines() if not h.get_label().startswith("_")]
    if handles:
        ax1.legend(handles=handles, fontsize=8, loc="lower left")
    mark_features(ax1, features)
    draw_attribution(ax2, attribution, features=features)
    ax2.set_xlim(lo, hi)
    top = ", ".join(f"{w:.0f} nm" for w, _ in attribution.top_bands(3))
    pred = attribution.predicted_name or (f"class {attribution.predicted}" if attribution.predicted >= 0 else "?")
    fig.suptitle(title or f"predicted: {pred}; strongest bands: {top}", fontsize=10)
    return fig
