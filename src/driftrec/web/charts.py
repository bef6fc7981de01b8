"""The dashboard's charts: Plotly figures built in Python, shipped to the page as JSON.

Each page embeds a figure as ``<script type="application/json">`` (see :func:`embed`) and
the static ``dashboard.js`` hands it to ``Plotly.newPlot``; ``plotly.min.js`` is served
from the installed ``plotly`` package (:func:`plotly_js_path`), never from a CDN.
Only SVG trace types are used (no WebGL), so the charts draw on any browser, headless
ones included. Arrays travel as Plotly's base64 typed arrays, which keeps pages small.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import plotly
import plotly.graph_objects as go
from markupsafe import Markup

#: One colour per event type, stable across pages (others cycle through the rest).
EVENT_COLOURS = {"rating": "#72b7b2", "view": "#eeca3b", "click": "#f58518",
                 "like": "#54a24b", "purchase": "#e45756", "cart": "#ff9da6",
                 "search": "#b279a2", "review": "#9d755d", "skip": "#7f7f7f"}
PALETTE = ["#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#eeca3b", "#b279a2",
           "#ff9da6", "#9d755d", "#bab0ac"]
LONG_COLOUR, SHORT_COLOUR = "#1f3b73", "#e4572e"


def plotly_js_path() -> Path:
    """``plotly.min.js`` as the installed ``plotly`` package ships it."""
    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


def plotly_version() -> str:
    return str(plotly.__version__)


_ESCAPES = {ord("<"): "\\u003c", ord(">"): "\\u003e", ord("&"): "\\u0026",
            ord("\u2028"): "\\u2028", ord("\u2029"): "\\u2029"}


def embed(fig: go.Figure) -> Markup:
    """The figure as JSON that is safe inside ``<script type="application/json">``: the
    characters that could end the script element are written as JSON escapes, so a title
    like ``</script><script>...`` stays text."""
    return Markup(fig.to_json().translate(_ESCAPES))


def text(value: object) -> str:
    """A string for Plotly's labels: they read ``<br>``, ``<b>`` ... as markup, so data
    (titles, topics) is escaped and shows as written."""
    return html.escape(str(value), quote=False)


def texts(values: Iterable[object]) -> np.ndarray:
    return np.array([text(v) for v in values], dtype=object)


def event_colour(event_type: str, i: int = 0) -> str:
    return EVENT_COLOURS.get(event_type, PALETTE[i % len(PALETTE)])


def to_datetimes(ts: Sequence[int] | np.ndarray) -> list[str]:
    """Unix seconds as ISO strings Plotly reads as dates (UTC)."""
    return [datetime.fromtimestamp(int(x), timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
            for x in ts]


#: A small template of our own: Plotly's named templates are copied and validated on every
#: figure, which costs more than drawing the data.
TEMPLATE = go.layout.Template(layout={
    "font": {"family": "system-ui, sans-serif", "size": 12, "color": "#1d2330"},
    "paper_bgcolor": "white", "plot_bgcolor": "white", "colorway": PALETTE,
    "xaxis": {"gridcolor": "#eceff3", "linecolor": "#c9ced6", "zerolinecolor": "#c9ced6"},
    "yaxis": {"gridcolor": "#eceff3", "linecolor": "#c9ced6", "zerolinecolor": "#c9ced6"},
    "hoverlabel": {"font": {"family": "system-ui, sans-serif"}}})


def _figure(traces, height: int = 320, **layout) -> go.Figure:
    """A figure with the dashboard's look; ``layout`` entries override the defaults."""
    return go.Figure(traces, layout={
        "template": TEMPLATE, "height": height,
        "margin": {"l": 48, "r": 16, "t": 28, "b": 40},
        "legend": {"orientation": "h", "y": -0.18}, **layout})


def warm_up() -> None:
    """Build one figure of each kind once: the first use of a Plotly trace type loads its
    validators (a fraction of a second), which should not land on a page view."""
    x = np.arange(3)
    for fig in (events_per_minute(x, {"view": x}), latency_bars(["a"], [1.0], [2.0], [0.1]),
                drift_boxes({"a": x}), similarity_bars(["a"], [0.5], ["/dashboard/"])):
        fig.to_json()


# -- overview -----------------------------------------------------------------------------
def events_per_minute(minutes: np.ndarray, counts: Mapping[str, np.ndarray]) -> go.Figure:
    """Stacked events per minute by event type."""
    x = to_datetimes(minutes)
    traces = [go.Scatter(x=x, y=np.asarray(c), name=text(t), mode="lines", stackgroup="one",
                         line={"width": 0.8, "color": event_colour(t, i)},
                         hovertemplate="%{x}<br>%{y} " + text(t) + " events<extra></extra>")
              for i, (t, c) in enumerate(counts.items())]
    return _figure(traces, 300, yaxis_title="events / minute", hovermode="x unified")


def latency_bars(routes: Sequence[str], p50_ms: Sequence[float], p95_ms: Sequence[float],
                 rate: Sequence[float]) -> go.Figure:
    """Median and 95th-percentile latency per route, with requests per second on hover."""
    names = [text(r) for r in routes]
    custom = np.asarray(rate, dtype=float)
    traces = [
        go.Bar(y=names, x=list(p50_ms), name="p50 ms", orientation="h",
               marker_color="#4c78a8", customdata=custom,
               hovertemplate="%{y}<br>p50 %{x:.1f} ms, %{customdata:.2f} req/s"
                             "<extra></extra>"),
        go.Bar(y=names, x=list(p95_ms), name="p95 ms", orientation="h",
               marker_color="#f58518", customdata=custom,
               hovertemplate="%{y}<br>p95 %{x:.1f} ms<extra></extra>"),
    ]
    return _figure(traces, max(220, 60 + 34 * len(routes)), barmode="group",
                   xaxis={"title": "latency (ms, log scale)", "type": "log"},
                   yaxis={"automargin": True, "autorange": "reversed"},
                   margin={"l": 8, "r": 16, "t": 16, "b": 40})


def weight_bars(weights: Mapping[str, float], title: str = "weight") -> go.Figure:
    names = list(weights)
    values = [float(weights[n]) for n in names]
    trace = go.Bar(x=values, y=[text(n) for n in names], orientation="h",
                   marker_color=["#54a24b" if v >= 0 else "#e45756" for v in values],
                   hovertemplate="%{y}: %{x:.3f}<extra></extra>")
    return _figure([trace], max(200, 50 + 30 * len(names)), xaxis_title=title,
                   yaxis={"automargin": True, "autorange": "reversed"},
                   margin={"l": 8, "r": 16, "t": 16, "b": 40})


def metric_bars(metrics: Mapping[str, float]) -> go.Figure:
    names = list(metrics)
    trace = go.Bar(x=[text(n) for n in names], y=[float(metrics[n]) for n in names],
                   marker_color="#4c78a8", hovertemplate="%{x}: %{y:.4f}<extra></extra>")
    return _figure([trace], 260, yaxis_title="offline metric")


# -- user -----------------------------------------------------------------------------------
def trajectory_map(background: Mapping[str, Any], times: np.ndarray,
                   long_xy: np.ndarray, short_xy: np.ndarray,
                   events: Mapping[str, Mapping[str, Any]]) -> go.Figure:
    """The catalogue's text space (2-D PCA) with the user's interest moving through it.

    ``background``: ``x``, ``y``, ``text`` (titles), ``url`` of the items; ``events``: per
    event type ``x``, ``y``, ``text`` (titles), ``when`` (times), ``url`` of the events.
    """
    when = to_datetimes(times)
    traces: list[go.Scatter] = [go.Scatter(
        x=background["x"], y=background["y"], mode="markers", name="catalogue",
        text=texts(background["text"]), customdata=background["url"],
        marker={"size": 4, "color": "#b8c2cc", "opacity": 0.35},
        hovertemplate="%{text}<extra>catalogue</extra>")]
    for i, (event_type, pts) in enumerate(events.items()):
        traces.append(go.Scatter(
            x=pts["x"], y=pts["y"], mode="markers", name=text(event_type) + " events",
            text=[f"{text(t)}<br>{w}" for t, w in zip(pts["text"], pts["when"], strict=True)],
            customdata=pts["url"],
            marker={"size": 7, "color": event_colour(event_type, i), "opacity": 0.8,
                    "line": {"width": 0.5, "color": "white"}},
            hovertemplate="%{text}<extra>" + text(event_type) + "</extra>"))
    order = np.linspace(0.25, 1.0, len(when)) if len(when) else np.zeros(0)
    paths = (("short-term interest", short_xy, SHORT_COLOUR,
              {"width": 1, "dash": "dot"}, {"size": 3, "color": SHORT_COLOUR}, 0.55),
             ("long-term interest", long_xy, LONG_COLOUR, {"width": 2.5},
              # darker as time goes on, so the direction of travel shows
              {"size": 5, "color": order, "colorscale": "Blues", "cmin": 0, "cmax": 1}, 1.0))
    for name, xy, colour, line, marker, opacity in paths:
        traces.append(go.Scatter(
            x=xy[:, 0], y=xy[:, 1], mode="lines+markers", name=name, text=when,
            line={"color": colour, **line}, marker=marker, opacity=opacity,
            hovertemplate="%{text}<extra>" + name + "</extra>"))
        finite = np.flatnonzero(np.isfinite(xy[:, 0]))
        if len(finite):
            last = finite[-1]
            traces.append(go.Scatter(
                x=[xy[last, 0]], y=[xy[last, 1]], mode="markers", showlegend=False,
                marker={"size": 15, "color": colour, "symbol": "star",
                        "line": {"width": 1, "color": "white"}},
                text=[f"{name} now"], hovertemplate="%{text}<extra></extra>"))
    return _figure(traces, 520, hovermode="closest", legend={"orientation": "h", "y": -0.12},
                   xaxis={"title": "text space, 1st principal direction", "zeroline": False},
                   yaxis={"title": "2nd principal direction", "zeroline": False})


def drift_line(times: np.ndarray, drift: np.ndarray) -> go.Figure:
    trace = go.Scatter(x=to_datetimes(times), y=drift,
                       mode="lines+markers" if len(drift) <= 60 else "lines",
                       line={"color": "#4c78a8", "width": 1.5}, marker={"size": 4},
                       hovertemplate="%{x}<br>drift %{y:.3f}<extra></extra>")
    return _figure([trace], 240, yaxis_title="drift = 1 − cos(short, long)")


def topic_shares(times: np.ndarray, shares: Mapping[str, np.ndarray]) -> go.Figure:
    """Stacked areas: each topic's share of the user's interest over time."""
    x = to_datetimes(times)
    traces = [go.Scatter(x=x, y=np.asarray(v), name=text(topic), mode="lines",
                         stackgroup="one", groupnorm="percent",
                         line={"width": 0.5, "color": PALETTE[i % len(PALETTE)]},
                         hovertemplate=text(topic) + ": %{y:.0f}%<extra></extra>")
              for i, (topic, v) in enumerate(shares.items())]
    return _figure(traces, 300, yaxis={"title": "share of interest (%)", "range": [0, 100]},
                   hovermode="x unified")


def cluster_bars(labels: Sequence[str], weights: Sequence[float]) -> go.Figure:
    trace = go.Bar(x=[100 * w for w in weights], y=texts(labels), orientation="h",
                   marker_color=[PALETTE[i % len(PALETTE)] for i in range(len(labels))],
                   hovertemplate="%{y}: %{x:.0f}%<extra></extra>")
    return _figure([trace], max(160, 50 + 32 * len(labels)), xaxis_title="weight (%)",
                   yaxis={"automargin": True, "autorange": "reversed"},
                   margin={"l": 8, "r": 16, "t": 10, "b": 40})


# -- segments and items ---------------------------------------------------------------------
def segment_sizes(labels: Sequence[str], sizes: Sequence[int]) -> go.Figure:
    trace = go.Bar(x=list(sizes), y=texts(labels), orientation="h",
                   marker_color=[PALETTE[i % len(PALETTE)] for i in range(len(labels))],
                   hovertemplate="%{y}: %{x} users<extra></extra>")
    return _figure([trace], max(200, 50 + 30 * len(labels)), xaxis_title="users",
                   yaxis={"automargin": True, "autorange": "reversed"},
                   margin={"l": 8, "r": 16, "t": 10, "b": 40})


def segment_history(series: Mapping[str, tuple[Sequence[int], Sequence[int]]]) -> go.Figure:
    """Members of each segment (by id) over the stored segmentation versions."""
    traces = [go.Scatter(x=list(xs), y=list(ys), name=text(label), mode="lines+markers",
                         line={"color": PALETTE[i % len(PALETTE)], "width": 1.5},
                         hovertemplate="version %{x}: %{y} users<extra></extra>")
              for i, (label, (xs, ys)) in enumerate(series.items())]
    return _figure(traces, 300, xaxis_title="segmentation version", yaxis_title="users")


def drift_boxes(groups: Mapping[str, np.ndarray]) -> go.Figure:
    traces = [go.Box(y=np.asarray(v), name=text(label), boxpoints=False,
                     marker_color=PALETTE[i % len(PALETTE)])
              for i, (label, v) in enumerate(groups.items())]
    return _figure(traces, 340, yaxis_title="drift of members", showlegend=False,
                   xaxis={"automargin": True})


def popularity_over_time(buckets: np.ndarray, counts: Mapping[str, np.ndarray],
                         unit: str) -> go.Figure:
    x = to_datetimes(buckets)
    traces = [go.Bar(x=x, y=np.asarray(c), name=text(t), marker_color=event_colour(t, i),
                     hovertemplate="%{x}<br>%{y} " + text(t) + "<extra></extra>")
              for i, (t, c) in enumerate(counts.items())]
    return _figure(traces, 280, barmode="stack", yaxis_title=f"events per {unit}")


def similarity_bars(titles: Sequence[str], sims: Sequence[float],
                    urls: Sequence[str]) -> go.Figure:
    trace = go.Bar(x=list(sims), y=texts(titles), orientation="h", customdata=list(urls),
                   marker_color="#72b7b2", hovertemplate="%{y}: cosine %{x:.3f}<extra></extra>")
    return _figure([trace], max(200, 50 + 28 * len(titles)), xaxis_title="text similarity",
                   yaxis={"automargin": True, "autorange": "reversed"},
                   margin={"l": 8, "r": 16, "t": 10, "b": 40})
