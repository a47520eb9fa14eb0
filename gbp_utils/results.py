"""The README's results, rendered from the final evaluation's CSV and per-task outcomes
(``final_evaluation``): the full table (compute and distances aggregated over seeds by ``stats.aggregate``;
success with its interval over seeds and tasks and the per-seed range by ``stats.crossed_summary``), the
table in the paper's format beside its Wall numbers, the verdicts on the claims (``stats.paired_claims``) and
the budget sweep at matched compute (``final_evaluation.budget_table``), and notebook 11's pessimism study
(``pessimism.study_table``, from ``data/results/pessimism.csv``). Each sits between its own pair of markers in the README.

    python -m gbp_utils.results            # rewrite the README's results from the CSV
    python -m gbp_utils.results --check    # exit 1 if the README's results differ from the CSV
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from .final_evaluation import load_outcomes, load_results
from .stats import aggregate, crossed_summary

README_BEGIN, README_END = "<!-- results-table:begin -->", "<!-- results-table:end -->"
PAPER_BEGIN, PAPER_END = "<!-- paper-table:begin -->", "<!-- paper-table:end -->"
CLAIMS_BEGIN, CLAIMS_END = "<!-- claims-table:begin -->", "<!-- claims-table:end -->"
BUDGET_BEGIN, BUDGET_END = "<!-- budget-table:begin -->", "<!-- budget-table:end -->"
PESSIMISM_BEGIN, PESSIMISM_END = "<!-- pessimism-table:begin -->", "<!-- pessimism-table:end -->"
HARDER_BEGIN, HARDER_END = "<!-- harder-table:begin -->", "<!-- harder-table:end -->"
PIXELS_BEGIN, PIXELS_END = "<!-- pixels-table:begin -->", "<!-- pixels-table:end -->"


def _readme_with_table(readme: Path, csv: Path | None, outcomes: Path | None = None) -> tuple[str, str, str]:
    """(the README's text, the same text with its results regenerated from the CSV and the per-task outcomes,
    the full results table)."""
    from .final_evaluation import REGIMES, budget_table, paper_claims, paper_table, series_claims
    from .stats import paired_claims

    text = readme.read_text()
    # the appendix studies' CSVs sit beside the final evaluation's (data/results/ unless ``csv`` says otherwise)
    folder = Path(csv).parent if csv is not None else None
    out = load_outcomes(outcomes)
    summary = crossed_summary(out)
    results = load_results(csv)
    agg = aggregate(results)
    table = readme_table(agg, summary)
    new = render_readme(text, table)
    if PAPER_BEGIN in text:
        new = render_readme(new, paper_markdown({r: paper_table(summary, r) for r in REGIMES}), PAPER_BEGIN, PAPER_END)
    if CLAIMS_BEGIN in text:
        claims = {r: paired_claims(out, paper_claims(r) + series_claims(r)) for r in REGIMES}
        new = render_readme(new, claims_markdown(claims), CLAIMS_BEGIN, CLAIMS_END)
    if BUDGET_BEGIN in text:
        new = render_readme(new, budget_markdown(budget_table(out, summary, agg)), BUDGET_BEGIN, BUDGET_END)
    if PESSIMISM_BEGIN in text:
        from . import pessimism
        study = pessimism.study_table(pessimism.load_outcomes(pessimism.outcomes_path(folder)),
                                      pessimism.load_results(pessimism.results_path(folder)))
        new = render_readme(new, pessimism_markdown(study), PESSIMISM_BEGIN, PESSIMISM_END)
    if HARDER_BEGIN in text:
        import pandas as pd

        from . import harder
        point_rows, point_out = harder.point_world_rows(results, out)
        both = pd.concat([point_out, harder.load_outcomes(harder.outcomes_path(folder))], ignore_index=True)
        rows = pd.concat([point_rows, harder.point_world_references(results),
                          harder.load_results(harder.results_path(folder))], ignore_index=True)
        new = render_readme(new, harder_markdown(harder.side_by_side(both), harder.world_verdicts(both),
                                                 harder.compute_table(rows)), HARDER_BEGIN, HARDER_END)
    if PIXELS_BEGIN in text:
        from . import vision
        pix_out = vision.load_outcomes(vision.outcomes_path(folder))
        new = render_readme(new, pixels_markdown(vision.side_by_side(pix_out), vision.verdicts(pix_out),
                                                 vision.observation_claims(pix_out),
                                                 vision.compute_table(vision.load_results(vision.results_path(folder)))),
                            PIXELS_BEGIN, PIXELS_END)
    return text, new, table


def update_readme(readme: Path | None = None, csv: Path | None = None, outcomes: Path | None = None) -> bool:
    """Rewrite the README's results from the CSV and the outcomes; True if the README changed."""
    readme = Path(readme or Path(__file__).resolve().parents[1] / "README.md")
    text, new, _ = _readme_with_table(readme, csv, outcomes)
    if new != text:
        readme.write_text(new)
    return new != text


def paper_markdown(tables: dict) -> str:
    """``final_evaluation.paper_table`` of each data regime ({regime: table}) as Markdown: ours with the
    interval over seeds and tasks, the paper's Wall number beside it."""
    from .final_evaluation import FAMILIES
    lines = ["| data | row | " + " | ".join(f"{f} ours % [95% CI] | {f} paper %" for f in FAMILIES) + " |",
             "|---|---|" + "---|---|" * len(FAMILIES)]
    for regime, table in tables.items():
        for _, r in table.iterrows():
            cells = " | ".join(f"{100 * r[f]:.1f} [{100 * r[f + ' low']:.1f}, {100 * r[f + ' high']:.1f}] | {r['paper ' + f]}"
                               for f in FAMILIES)
            lines.append(f"| {regime} | {r['row']} | {cells} |")
    return "\n".join(lines)


def claims_markdown(verdicts: dict) -> str:
    """``stats.paired_claims`` tables ({regime: table}) as one Markdown table: claim, data, both rates, the
    paired difference with its interval, verdict."""
    lines = ["| claim | data | A % | B % | A − B, points [95% CI] | verdict |", "|---|---|---|---|---|---|"]
    for regime, table in verdicts.items():
        for r in table.itertuples():
            lines.append(f"| {r.claim} | {regime} | {100 * r.rate_a:.1f} | {100 * r.rate_b:.1f} | "
                         f"{100 * r.difference:+.1f} [{100 * r.low:+.1f}, {100 * r.high:+.1f}] | {r.verdict} |")
    return "\n".join(lines)


def budget_markdown(table) -> str:
    """``final_evaluation.budget_table`` as Markdown: per model and budget, both families' compute and success
    with intervals, the paired difference Adam - CEM and the verdict on "Adam-GBP matches or beats CEM"."""
    lines = ["| data | model | budget | model evals / task, Adam · CEM | Adam-GBP % [95% CI] | CEM % [95% CI] | "
             "Adam − CEM, points [95% CI] | Adam matches or beats CEM? |", "|---|---|---|---|---|---|---|---|"]
    for r in table.to_dict("records"):
        ours = lambda f: f"{100 * r[f]:.1f} [{100 * r[f + ' low']:.1f}, {100 * r[f + ' high']:.1f}]"  # noqa: E731
        lines.append(f"| {r['data']} | {r['model']} | {r['budget']} | {r['Adam evals']:,.0f} · {r['CEM evals']:,.0f} | "
                     f"{ours('Adam')} | {ours('CEM')} | {100 * r['difference']:+.1f} [{100 * r['low']:+.1f}, "
                     f"{100 * r['high']:+.1f}] | {r['verdict']} |")
    return "\n".join(lines)


def pessimism_markdown(table) -> str:
    """``pessimism.study_table`` as Markdown: per model and planner, the chosen ensemble size and penalty, the
    success of the single model, of M x its budget, of the plain and of the pessimistic ensemble (with intervals
    over seeds and tasks), both compute figures, and the paired verdicts against M x the budget."""
    lines = ["| model | planner | M · beta | single % | M× budget % [95% CI] | ensemble, beta 0 % [95% CI] | "
             "pessimistic % [95% CI] | model evals / task, single · ensemble | pessimistic − M× budget, points "
             "[95% CI] | ensemble − M× budget, points [95% CI] |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in table.to_dict("records"):
        rate = lambda k: f"{100 * r[k]:.1f} [{100 * r[k + ' low']:.1f}, {100 * r[k + ' high']:.1f}]"  # noqa: E731
        diff = lambda k: (f"{100 * r[k]:+.1f} [{100 * r[k + ' low']:+.1f}, {100 * r[k + ' high']:+.1f}] "  # noqa: E731
                          f"{r[k + ' verdict']}")
        lines.append(f"| {r['model']} | {r['planner']} | {r['members']} · {r['beta']:g} | {100 * r['single']:.1f} | "
                     f"{rate('budget')} | {rate('ensemble')} | {rate('pessimistic')} | {r['single evals']:,.0f} · "
                     f"{r['ensemble evals']:,.0f} | {diff('penalty vs budget')} | {diff('ensemble vs budget')} |")
    return "\n".join(lines)


def harder_markdown(table, verdicts, compute=None, by: str = "world") -> str:
    """``harder.side_by_side`` and ``harder.world_verdicts`` as Markdown: success % [95% CI over seeds and tasks]
    per model and planner in each world, then each conclusion's verdict per world with its paired difference,
    then (``compute``: ``harder.compute_table``) each planner's model evaluations and milliseconds per task and
    the references' success in each world. ``by``: the verdicts' group column (notebook 09: "observation")."""
    worlds = list(dict.fromkeys(c.rsplit(" ", 1)[0] for c in table.columns))
    lines = ["| model | planner | " + " | ".join(f"{w} % [95% CI]" for w in worlds) + " |",
             "|---|---|" + "---|" * len(worlds)]
    for (model, planner), r in table.iterrows():
        cells = [f"{100 * r[f'{w} success_rate']:.1f} [{100 * r[f'{w} low']:.1f}, {100 * r[f'{w} high']:.1f}]"
                 for w in worlds]
        lines.append(f"| {model} | {planner} | " + " | ".join(cells) + " |")
    lines += ["", "| conclusion | " + " | ".join(worlds) + " |", "|---|" + "---|" * len(worlds)]
    decided = verdicts.set_index(["claim", by])
    for claim in dict.fromkeys(verdicts.claim):
        cells = []
        for w in worlds:
            v = decided.loc[(claim, w)]
            cells.append(f"{v.verdict} ({100 * v.difference:+.1f} [{100 * v.low:+.1f}, {100 * v.high:+.1f}])")
        lines.append(f"| {claim} | " + " | ".join(cells) + " |")
    if compute is None:
        return "\n".join(lines)
    missing = [w for w in worlds if w not in compute.columns.get_level_values(0)]
    if missing:
        raise ValueError(f"compute has no columns for the world(s) {missing}: pass harder.compute_table of every world")
    lines += ["", "| planner | " + " | ".join(f"{w}: model evals · ms / task, or success %" for w in worlds) + " |",
              "|---|" + "---|" * len(worlds)]
    for planner, r in compute.iterrows():
        cells = []
        for w in worlds:
            evals, ms, success = (r.get((w, c)) for c in ("evals", "ms", "success"))
            if success is not None and not math.isnan(success):
                cells.append(f"{100 * success:.1f}%")
            elif evals is not None and not math.isnan(evals):
                cells.append(f"{evals:,.0f} · {ms:.0f}")
            else:
                cells.append("–")
        lines.append(f"| {planner} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def pixels_markdown(table, verdicts, across, compute) -> str:
    """Notebook 09's README section: ``vision.side_by_side`` (success % [95% CI] from pixels and from states),
    ``vision.verdicts`` per observation, ``vision.compute_table`` (as ``harder_markdown``), then
    ``vision.observation_claims`` (do states beat pixels? paired difference in points with its interval)."""
    lines = [harder_markdown(table, verdicts, compute, by="observation"), "",
             "| states vs pixels (same models' recipe, same tasks) | states % | pixels % | difference [95% CI] | verdict |",
             "|---|---|---|---|---|"]
    for r in across.itertuples():
        lines.append(f"| {r.claim.removeprefix('states beat pixels ').strip('()')} | {100 * r.rate_a:.1f} | "
                     f"{100 * r.rate_b:.1f} | {100 * r.difference:+.1f} [{100 * r.low:+.1f}, {100 * r.high:+.1f}] | "
                     f"{r.verdict} |")
    return "\n".join(lines)


def _fmt(x: float, spec: str) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, spec)


def readme_table(agg, summary) -> str:
    """The results as a Markdown table (the README's results section): ``agg`` (``stats.aggregate`` of
    the CSV) for compute and distances, ``summary`` (``stats.crossed_summary`` of the per-task outcomes)
    for the success rate, its interval over seeds and tasks, and the per-seed range."""
    intervals = {(r.model, r.planner): r for r in summary.itertuples()}
    lines = ["| model | planner | success % [95% CI over seeds and tasks] | per-seed % (min–max) | seeds × tasks | "
             "final dist. | gap ratio | model evals / task | wall ms / task |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in agg.itertuples():
        c = intervals.get((r.model, r.planner))
        if c is None:
            raise ValueError(f"no per-task outcomes for model {r.model!r}, planner {r.planner!r}: re-run notebook 08")
        if abs(c.success_rate - r.success_rate) > 1e-9 or c.n_seeds * c.n_tasks != r.n_tasks:
            raise ValueError(f"the per-task outcomes of {r.model!r}, {r.planner!r} disagree with the CSV: re-run notebook 08")
        spread = "–" if c.n_seeds == 1 else f"{100 * c.seed_min:.1f}–{100 * c.seed_max:.1f}"
        lines.append(f"| {r.model} | {r.planner} | {100 * c.success_rate:.1f} [{100 * c.low:.1f}, {100 * c.high:.1f}] | "
                     f"{spread} | {c.n_seeds} × {c.n_tasks} | {r.mean_final_distance:.2f} | "
                     f"{_fmt(r.wm_error_ratio, '.1f')} | {_fmt(r.wm_evals_per_task, ',.0f')} | "
                     f"{1e3 * r.seconds_per_task:.1f} |")
    return "\n".join(lines)


def render_readme(text: str, table: str, begin: str = README_BEGIN, end: str = README_END) -> str:
    """``text`` with the part between the markers ``begin`` and ``end`` (default: the results table's)
    replaced by ``table``."""
    if begin not in text or end not in text or text.index(begin) > text.index(end):
        raise ValueError(f"the README needs the markers {begin} and then {end} around its table")
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{begin}\n{table}\n{end}{tail}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only check that the README table matches the CSV")
    parser.add_argument("--readme", type=Path, default=Path(__file__).resolve().parents[1] / "README.md")
    parser.add_argument("--csv", type=Path, default=None)
    parser.add_argument("--outcomes", type=Path, default=None)
    args = parser.parse_args(argv)
    text, new, table = _readme_with_table(args.readme, args.csv, args.outcomes)
    if args.check:
        if new != text:
            print(f"{args.readme} results table differs from the CSV: run python -m gbp_utils.results", file=sys.stderr)
            return 1
        print("README results table matches the CSV")
        return 0
    args.readme.write_text(new)
    print(f"wrote the results table ({len(table.splitlines()) - 2} rows) into {args.readme}")
    return 0

if __name__ == "__main__":
    sys.exit(main())
