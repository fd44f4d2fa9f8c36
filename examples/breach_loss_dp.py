"""Breach losses with and without differential privacy (the article's example).

Ten companies sum their losses from data breaches. One breach made the news
with an approximate figure. With the exact sum, the others can tell that
everyone else lost almost nothing. With `dp-sum` the total carries discrete
Laplace noise generated inside MPC: nobody, not even the companies together,
knows the exact total, and one company's loss hides in the noise.

Also draws accuracy against epsilon as an SVG (examples/accuracy_vs_epsilon.svg).

    python examples/breach_loss_dp.py [--runs N] [--svg PATH]
"""

import argparse
import statistics
from pathlib import Path

import mpcnet

LOSSES = [1_900, 0, 5, 0, 12, 0, 0, 3, 0, 8]  # thousands of dollars; company 0's breach was in the news
LOWER, UPPER = 0, 2_000  # declared bounds: each loss is clamped into them


def noisy_totals(epsilon: float, runs: int) -> list[int]:
    return [mpcnet.simulate("dp-sum", LOSSES, params={"epsilon": epsilon, "lower": LOWER, "upper": UPPER})
            .outputs[0] for _ in range(runs)]


def svg_plot(points: list[tuple[float, float]], path: Path) -> None:
    """A small line chart (mean absolute error vs epsilon, log-x) by hand."""
    w, h, pad = 480, 300, 50
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    import math

    lx = [math.log10(x) for x in xs]
    x0, x1, y1 = min(lx), max(lx), max(ys) * 1.1

    def sx(v: float) -> float:
        return pad + (math.log10(v) - x0) / (x1 - x0) * (w - 2 * pad)

    def sy(v: float) -> float:
        return h - pad - v / y1 * (h - 2 * pad)

    line = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in points)
    dots = "".join(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3"/><text x="{sx(x):.1f}" y="{sy(y) - 8:.1f}" '
                   f'font-size="10" text-anchor="middle">{y:.0f}</text>' for x, y in points)
    ticks = "".join(f'<text x="{sx(x):.1f}" y="{h - pad + 16}" font-size="11" text-anchor="middle">{x:g}</text>'
                    for x in xs)
    path.write_text(
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif">'
        f'<rect width="{w}" height="{h}" fill="white"/>'
        f'<line x1="{pad}" y1="{h - pad}" x2="{w - pad}" y2="{h - pad}" stroke="black"/>'
        f'<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{h - pad}" stroke="black"/>'
        f'<polyline points="{line}" fill="none" stroke="steelblue" stroke-width="2"/>{dots}{ticks}'
        f'<text x="{w / 2}" y="{h - 10}" font-size="12" text-anchor="middle">epsilon (log scale)</text>'
        f'<text x="14" y="{h / 2}" font-size="12" transform="rotate(-90 14 {h / 2})" text-anchor="middle">'
        f'mean |noisy - exact| (k$)</text>'
        f'<text x="{w / 2}" y="20" font-size="13" text-anchor="middle">dp-sum accuracy vs epsilon '
        f'(sensitivity {UPPER - LOWER})</text></svg>\n')


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--svg", default=str(Path(__file__).with_name("accuracy_vs_epsilon.svg")))
    args = ap.parse_args()
    exact = mpcnet.simulate("secure-sum", LOSSES).outputs[0]
    print(f"exact total: {exact}k; the news said company 0 lost about 1,900k -> the other nine lost ~{exact - 1900}k")
    points = []
    for eps in (0.1, 0.5, 1.0, 2.0, 5.0):
        totals = noisy_totals(eps, args.runs)
        err = statistics.mean(abs(t - exact) for t in totals)
        points.append((eps, err))
        print(f"epsilon {eps:4}: noisy totals {totals}  mean |error| {err:7.1f}k "
              f"(noise scale {(UPPER - LOWER) / eps:.0f}k)")
    svg_plot(points, Path(args.svg))
    print(f"plot written to {args.svg}")


if __name__ == "__main__":
    main()
