"""From runs to summaries: labels to a target, seed-averaged curves, savings."""


import numpy as np

from skakd.demo import labels_to_reach

from .._report import read_runs

__all__ = [
    "GROUP",
    "TARGETS",
    "aggregate",
    "by_group",
    "curve_rows",
    "labels_to_reach",
    "mean_curve",
    "read_runs",
    "summarize_run",
]

TARGETS = (0.90, 0.95)  # shares of the student's full-training-set accuracy
GROUP = ("dataset", "student", "noise", "sampler")  # what seeds are averaged over


def summarize_run(curve, full_acc):
    """Per-run scalars: labels to targets, acceptance, seconds."""
    rounds = curve[1:]
    out = {"final_accuracy": curve[-1]["accuracy"],
           "final_balanced_accuracy": curve[-1]["balanced_accuracy"],
           "teacher_labels": curve[-1]["n_labeled"] - curve[0]["n_labeled"],
           "select_seconds": sum(r["select_seconds"] for r in rounds),
           "fit_seconds": sum(r["fit_seconds"] for r in rounds),
           "total_seconds": sum(r["seconds"] for r in curve),
           "seconds_per_round": float(np.mean([r["seconds"] for r in rounds])),
           # What the loop itself costs: neither the student's fit nor the
           # sampler's selection (reported apart), the rest of each round.
           "overhead_per_round": float(np.mean(
               [r["seconds"] - r["fit_seconds"] - r["select_seconds"]
                for r in rounds]))}
    if "acceptance_rate" in rounds[0]:
        rates = [r["acceptance_rate"] for r in rounds]
        out.update(acceptance_mean=float(np.mean(rates)),
                   acceptance_min=float(np.min(rates)),
                   acceptance_max=float(np.max(rates)))
    for target in TARGETS:
        out[f"labels_to_{round(target * 100)}"] = labels_to_reach(
            curve, target * full_acc)
    return out


def _groups(runs):
    groups = {}
    for run in runs:
        groups.setdefault(tuple(run[k] for k in GROUP), []).append(run)
    return groups


def aggregate(runs):
    """One summary row per (dataset, student, noise, sampler) over seeds."""
    rows = []
    for key, members in sorted(_groups(runs).items(), key=lambda kv: str(kv[0])):
        # Recomputed from the curves, so a changed metric applies to old runs.
        members = [{**m, **summarize_run(m["curve"], m["full_accuracy"])}
                   for m in members]
        curve = mean_curve(members)
        full_acc = members[0]["full_accuracy"]
        row = dict(zip(GROUP, key), seeds=len(members), full_accuracy=full_acc,
                   budget=members[0]["teacher_labels"],
                   final_accuracy=curve["accuracy"][-1],
                   final_accuracy_std=curve["accuracy_std"][-1],
                   final_balanced_accuracy=curve["balanced_accuracy"][-1])
        for target in TARGETS:
            name = f"labels_to_{round(target * 100)}"
            reached = np.flatnonzero(curve["accuracy"] >= target * full_acc)
            row[name] = int(curve["labels"][reached[0]]) if len(reached) else None
            row[name + "_seeds"] = [m[name] for m in members]
        for field in ("select_seconds", "total_seconds", "seconds_per_round",
                      "overhead_per_round", "acceptance_mean", "acceptance_min",
                      "acceptance_max"):
            values = [m[field] for m in members if field in m]
            row[field] = float(np.mean(values)) if values else None
        row["select_seconds_per_round"] = row["select_seconds"] / max(
            1, members[0]["rounds"])
        rows.append(row)
    _add_reductions(rows)
    return rows


def by_group(rows):
    """Summary rows keyed by (dataset, student, noise, sampler)."""
    return {tuple(r[k] for k in GROUP): r for r in rows}


def mean_curve(members):
    """Mean and standard deviation over seeds, round by round."""
    n = min(len(m["curve"]) for m in members)
    out = {"labels": np.array([r["n_labeled"] - members[0]["curve"][0]["n_labeled"]
                               for r in members[0]["curve"][:n]])}
    for metric in ("accuracy", "balanced_accuracy"):
        values = np.array([[r[metric] for r in m["curve"][:n]] for m in members])
        out[metric] = values.mean(axis=0)
        out[metric + "_std"] = values.std(axis=0)
    return out


def curve_rows(runs):
    """The seed-averaged learning curves, one row per group and round."""
    rows = []
    for key, members in _groups(runs).items():
        curve = mean_curve(members)
        for i, labels in enumerate(curve["labels"]):
            rows.append({**dict(zip(GROUP, key)), "teacher_labels": int(labels),
                         **{m: float(curve[m][i]) for m in (
                             "accuracy", "accuracy_std", "balanced_accuracy",
                             "balanced_accuracy_std")}})
    return rows


def _add_reductions(rows):
    # Savings against random and the gap to exhaustive least confidence, from
    # the seed-averaged curves; an unreached target counts as "> budget", so
    # the reduction is then a lower bound (flagged by reduction_bound).
    index = by_group(rows)
    for row in rows:
        key = (row["dataset"], row["student"], row["noise"])
        for target in ("labels_to_90", "labels_to_95"):
            random, lc = index.get(key + ("random",)), index.get(key + ("lc",))
            mine = row[target]
            row[f"{target}_reduction_vs_random"] = None
            row[f"{target}_reduction_bound"] = False
            if random is not None and mine is not None and random[target] != 0:
                base = random[target]
                if base is None:
                    base = random["budget"] + 1
                    row[f"{target}_reduction_bound"] = True
                row[f"{target}_reduction_vs_random"] = 1 - mine / base
            row[f"{target}_vs_lc"] = (
                mine / lc[target] if lc and mine is not None and lc[target] else None)
