"""Draw the launch badges of the notebooks and the README (docs/badges/*.png) with matplotlib.

The images live in the repository (and, in the notebooks, as attachments of the badge cell), so that
opening a notebook never loads an image from the network. JupyterLab renders PNG attachments (not SVG).

Usage: python scripts/draw_badges.py
"""
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

OUT = Path(__file__).resolve().parents[1] / "docs" / "badges"
BADGES = {"open-in-colab.png": ("Open in", "Colab", "#F9AB00", 52, 46),
          "launch-binder.png": ("launch", "binder", "#579ACA", 50, 46)}


def draw(left: str, right: str, color: str, width_left: int, width_right: int, path: Path) -> None:
    width = width_left + width_right  # pixels, 20 high like the usual badges
    fig = plt.figure(figsize=(width / 100, 0.2), dpi=100)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set(xlim=(0, width), ylim=(0, 20))
    ax.axis("off")
    ax.add_patch(plt.Rectangle((0, 0), width_left, 20, color="#555555"))
    ax.add_patch(plt.Rectangle((width_left, 0), width_right, 20, color=color))
    for x, text in ((width_left / 2, left), (width_left + width_right / 2, right)):
        ax.text(x, 10, text, color="white", ha="center", va="center", fontsize=7.9, family="DejaVu Sans")
    fig.savefig(path, dpi=100, transparent=True)
    plt.close(fig)


if __name__ == "__main__":
    OUT.mkdir(parents=True, exist_ok=True)
    for name, spec in BADGES.items():
        draw(*spec, OUT / name)
        print(OUT / name)
