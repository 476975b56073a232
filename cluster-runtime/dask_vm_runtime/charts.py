"""A line chart as SVG text, for notebooks on the cluster (``IPython.display.SVG``):
nothing to fetch from the internet and nothing beyond the standard library, so it draws
in JupyterLab on node 1 and in an executed notebook alike."""

from __future__ import annotations

from html import escape

COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e")


def _ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    if hi <= lo:
        return [lo]
    step = (hi - lo) / (count - 1)
    return [lo + i * step for i in range(count)]


def line_chart(
    series: dict[str, list[tuple[float, float]]],
    *,
    title: str,
    x_label: str,
    y_label: str,
    width: int = 560,
    height: int = 320,
) -> str:
    """Each series is a list of (x, y) points, drawn as a line with markers; the y axis
    starts at 0. Returns the SVG document."""
    points = [p for pts in series.values() for p in pts]
    if not points:
        raise ValueError("line_chart needs at least one point")
    left, right, top, bottom = 60, 150, 36, 46
    xs = [x for x, _ in points]
    x_lo, x_hi = min(xs), max(xs)
    y_hi = max(y for _, y in points) * 1.1 or 1.0
    plot_w, plot_h = width - left - right, height - top - bottom

    def sx(x: float) -> float:
        return left + (plot_w * (x - x_lo) / (x_hi - x_lo) if x_hi > x_lo else plot_w / 2)

    def sy(y: float) -> float:
        return top + plot_h - plot_h * y / y_hi

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">',
        f'<text x="{width / 2}" y="20" text-anchor="middle" font-size="14">{escape(title)}</text>',
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="black"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="black"/>',
    ]
    for y in _ticks(0, y_hi):
        out.append(f'<text x="{left - 6}" y="{sy(y) + 4:.1f}" text-anchor="end">{y:.3g}</text>')
        out.append(f'<line x1="{left}" y1="{sy(y):.1f}" x2="{left + plot_w}" y2="{sy(y):.1f}" stroke="#ddd"/>')
    for x in sorted(set(xs)):
        out.append(f'<text x="{sx(x):.1f}" y="{top + plot_h + 16}" text-anchor="middle">{x:g}</text>')
    out.append(f'<text x="{left + plot_w / 2}" y="{height - 8}" text-anchor="middle">{escape(x_label)}</text>')
    out.append(
        f'<text transform="translate(16 {top + plot_h / 2}) rotate(-90)" text-anchor="middle">{escape(y_label)}</text>'
    )
    for i, (name, pts) in enumerate(series.items()):
        color = COLORS[i % len(COLORS)]
        path = " ".join(f"{'M' if j == 0 else 'L'}{sx(x):.1f},{sy(y):.1f}" for j, (x, y) in enumerate(sorted(pts)))
        out.append(f'<path d="{path}" fill="none" stroke="{color}" stroke-width="2"/>')
        out.extend(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3" fill="{color}"/>' for x, y in pts)
        ly = top + 14 + 18 * i
        out.append(
            f'<line x1="{left + plot_w + 12}" y1="{ly - 4}" x2="{left + plot_w + 30}" y2="{ly - 4}" stroke="{color}" stroke-width="2"/>'
        )
        out.append(f'<text x="{left + plot_w + 36}" y="{ly}">{escape(name)}</text>')
    out.append("</svg>")
    return "\n".join(out)
