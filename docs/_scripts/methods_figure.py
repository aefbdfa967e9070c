"""Draw docs/_static/methods.png: the M-RARU and PGKD loops side by side.

Run ``python docs/_scripts/methods_figure.py`` after changing the methods.
"""

from pathlib import Path

from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

OUT = Path(__file__).resolve().parents[1] / "_static" / "methods.png"
BOX = {"teacher": "#f4d35e", "student": "#7fb7be", "data": "#e9ecef",
       "step": "#ffffff"}


def box(ax, x, y, text, kind, width=0.36, height=0.13):
    ax.add_patch(FancyBboxPatch(
        (x - width / 2, y - height / 2), width, height,
        boxstyle="round,pad=0.012", facecolor=BOX[kind], edgecolor="#333333",
        linewidth=1.0,
    ))
    ax.text(x, y, text, ha="center", va="center", fontsize=8.5, wrap=True)


def arrow(ax, start, end, text=None, bend=0.0, offset=(0.0, 0.0)):
    ax.add_patch(FancyArrowPatch(
        start, end, arrowstyle="-|>", mutation_scale=11, linewidth=1.1,
        color="#333333", connectionstyle=f"arc3,rad={bend}",
    ))
    if text:
        ax.text((start[0] + end[0]) / 2 + offset[0],
                (start[1] + end[1]) / 2 + offset[1], text, fontsize=7.5,
                ha="center", va="center", style="italic", color="#444444")


def cycle(ax, boxes, labels):
    """Six boxes around a loop: top row, right column, bottom row, left column.

    ``boxes`` go top-left, top-right, middle-right, bottom-right, bottom-left,
    middle-left; ``labels`` annotate the arrows between consecutive boxes
    (the first arrow joins top-left to middle-right, as the student scores).
    """
    places = [(0.25, 0.85), (0.75, 0.85), (0.75, 0.5), (0.75, 0.15),
              (0.25, 0.15), (0.25, 0.5)]
    for (x, y), (text, kind) in zip(places, boxes):
        box(ax, x, y, text, kind, height=0.17 if "\n" in text[12:] else 0.13)
    edges = [((0.43, 0.85), (0.57, 0.85)), ((0.75, 0.78), (0.75, 0.6)),
             ((0.75, 0.41), (0.75, 0.22)), ((0.57, 0.15), (0.43, 0.15)),
             ((0.25, 0.22), (0.25, 0.41)), ((0.25, 0.6), (0.25, 0.78))]
    for (start, end), label in zip(edges, labels):
        vertical = start[0] == end[0]
        arrow(ax, start, end, label,
              offset=(0.13 if vertical else 0.0, 0.0 if vertical else 0.045))


def mraru(ax):
    ax.set_title("M-RARU: the student picks what the teacher labels", fontsize=10)
    cycle(ax, [
        ("student p(y | x)", "student"),
        ("unlabelled pool\n(millions of texts)", "data"),
        ("visit a random text x;\naccept with probability\n"
         "u(x) = (1 - max p) / (1 - 1/K)", "step"),
        ("batch of accepted texts\n(e.g. 25)", "step"),
        ("teacher (LLM)\nlabels the batch", "teacher"),
        ("labelled set:\nseed + teacher labels", "data"),
    ], ["scores visited\ntexts only", "", "until the\nbatch is full", "", "",
        "refit"])


def pgkd(ax):
    ax.set_title("PGKD: the teacher writes what the student needs", fontsize=10)
    cycle(ax, [
        ("student", "student"),
        ("validation split", "data"),
        ("report: accuracy, per-class\nprecision / recall / F1,\n"
         "errors, hard negatives", "step"),
        ("GenerationRequest:\ntaxonomy, few-shot\nexamples, report", "step"),
        ("teacher (LLM) writes\nnew labelled texts", "teacher"),
        ("training set +\nscreened new texts", "data"),
    ], ["evaluate", "", "prompt", "", "", "refit; early\nstopping keeps\nthe best"])


def main():
    figure = Figure(figsize=(11, 4.4), layout="constrained")
    for ax, draw in zip(figure.subplots(1, 2), (mraru, pgkd)):
        ax.set_xlim(0, 1)
        ax.set_ylim(0.02, 0.97)
        ax.axis("off")
        draw(ax)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(OUT, dpi=130)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
