"""Label efficiency of M-RARU versus random and exhaustive uncertainty sampling.

Reproduces the M-RARU paper's claim (arXiv:2511.11574) offline: an
``OracleTeacher`` answers from a dataset's true labels (optionally with label
noise), students learn from a seed of one example per class, and every
sampler buys batches of 25 labels. For each run the benchmark records the
learning curve (accuracy and balanced accuracy on the test split versus
teacher labels), the labels needed to reach 90% and 95% of the accuracy the
same student gets from the whole training set, acceptance rates, selection
seconds and total seconds. The peers small-text and modAL run their
least-confidence and random strategies with the same student, rows, seeds,
batch size and teacher budget in the same process.

Usage::

    python -m benchmarks.label_efficiency --quick          # < 10 min, 2 cores
    python -m benchmarks.label_efficiency                  # full grid
    python -m benchmarks.label_efficiency --data path/to/folder --students lr
    python -m benchmarks.label_efficiency --samplers mraru --param temperature=0.5

Any folder with ``train.csv`` and ``test.csv`` (header ``text,label``) works
as ``--data``. Finished runs are appended to ``<out>_runs.jsonl`` and skipped
when the command is repeated, so a long grid can be resumed; ``--summarize``
only rebuilds the tables and plots from that file.

Modules: :mod:`.run` runs the grid (students, samplers, one learning curve
per run), :mod:`.aggregate` turns runs into per-configuration summaries,
:mod:`.report` writes the tables, plots and pages, :mod:`.cli` is the
command line.
"""
