"""``setback compare-policies``: the same clinic under several policies, paired with TAU."""

from __future__ import annotations

import argparse
import json
import warnings

import pandas as pd
from matplotlib.figure import Figure

from analyses.commands._types import name_list
from analyses.commands.simulate import add_clinic_options, clinic_config
from analyses.outputs import OutputFolder
from analyses.plots import plot_policy_differences, plot_policy_rates
from analyses.report import provenance
from simulations import compare_policies, policy_from_name
from simulations.clinic.outcomes import FewClustersWarning, few_clusters_note

#: What comparison.csv holds, in words (also in meta.json): the CSV keeps proportions.
UNITS = ("rate, ci_low and ci_high are proportions of patients (0 to 1); diff_vs_tau, "
         "diff_ci_low and diff_ci_high are differences of proportions (multiply by 100 for "
         "percentage points)")


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``compare-policies`` subcommand.

    Examples
    --------
    >>> from analyses.cli import build_parser  # calls register(subparsers) for 'compare-policies'
    >>> parser = build_parser(only="compare_policies")
    >>> args = parser.parse_args(["compare-policies", "--policies", "tau,feedback", "--out", "cmp"])
    >>> args.func is run
    True
    >>> args.policies
    ['tau', 'feedback']
    """
    parser = sub.add_parser(
        "compare-policies",
        help="compare policies on the same simulated patients",
        description="Simulate the same patients, therapists and noise (common random numbers) "
        "under each policy and write DIR/comparison.csv (per policy, subgroup all / NOT and "
        "outcome: the rate with its 95% interval and the paired difference to treatment as "
        "usual with its interval, as proportions from 0 to 1), DIR/comparison.png and .svg "
        "(rates and differences in percent) and DIR/meta.json (seed, configuration, units). "
        "The printed table is in percent. Outcomes at the end of treatment and at the common "
        "follow-up horizon (*_horizon: week 26, every patient, whatever ended treatment), and "
        "the shares of ruptures noticed and resolved.",
    )
    parser.add_argument("--policies", default=["tau", "feedback", "feedback+cst",
                                               "alliance-repair"],
                        type=name_list(policy_from_name, "policy"),
                        help="comma-separated policy names (tau is always included; default "
                        "tau,feedback,feedback+cst,alliance-repair)")
    add_clinic_options(parser)
    parser.set_defaults(func=run)


def comparison_figure(table: pd.DataFrame) -> Figure:
    """Draw the rates by policy and the paired differences to TAU as one figure, in percent.

    Rates are shown for all patients and the not-on-track subgroup; the differences appear with a
    policy besides TAU. Drawn without pyplot, so no window opens and no global state changes.

    Examples
    --------
    >>> fig = comparison_figure(policy_table)  # tau and feedback, a tiny clinic
    >>> len(fig.axes)  # rates, not-on-track rates, differences to TAU
    3
    """
    outcomes = [o for o in ("deteriorated", "failure", "dropout", "recovered")
                if o in set(table["outcome"])]
    others = (table["policy"] != "tau").any()
    n_policies = table["policy"].nunique()
    fig = Figure(figsize=(16 if others else 11, 1.6 + 0.55 * n_policies))
    axes = fig.subplots(1, 3 if others else 2)
    plot_policy_rates(table, outcomes=outcomes, ax=axes[0])
    axes[0].set_title("all patients (95% intervals)")
    if "NOT" in set(table["subgroup"]):
        plot_policy_rates(table, subgroup="NOT", outcomes=outcomes, ax=axes[1])
        axes[1].set_title("not-on-track patients (95% intervals)")
    else:
        axes[1].set_axis_off()
    if others:
        plot_policy_differences(table, outcomes=outcomes, ax=axes[2])
        axes[2].set_title("paired difference to TAU, all patients")
    handles, labels = axes[0].get_legend_handles_labels()
    for ax in axes:  # one legend under the panels instead of one over each panel's points
        if ax.get_legend() is not None:
            ax.get_legend().remove()
    fig.legend(handles, labels, loc="lower center", ncols=len(labels), frameon=False)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    return fig


def run(args: argparse.Namespace) -> int:
    """Validate, compare, write the table, the figure and meta.json, and print the table.

    Examples
    --------
    >>> import contextlib, io, tempfile
    >>> from pathlib import Path
    >>> from analyses.cli import main
    >>> with tempfile.TemporaryDirectory() as folder, contextlib.redirect_stdout(io.StringIO()):
    ...     code = main(["compare-policies", "--patients", "60", "--therapists", "3",
    ...                  "--policies", "tau,feedback", "--out", f"{folder}/cmp", "--quiet"])
    ...     files = sorted(p.name for p in Path(folder, "cmp").iterdir())
    >>> code, files
    (0, ['.setback-output.json', 'comparison.csv', 'comparison.png', 'comparison.svg', 'meta.json'])
    """
    config = clinic_config(args)
    policies = [policy_from_name(n) for n in args.policies]
    folder = OutputFolder(args.out, "compare-policies", overwrite=args.overwrite)
    with warnings.catch_warnings():  # the note below says it instead
        warnings.simplefilter("ignore", FewClustersWarning)
        table = compare_policies(config, policies, seed=args.seed, progress=not args.quiet)
    fig = comparison_figure(table)
    with folder:
        table.to_csv(folder.tmp / "comparison.csv", index=False)
        fig.savefig(folder.tmp / "comparison.png", dpi=110, bbox_inches="tight")
        fig.savefig(folder.tmp / "comparison.svg", bbox_inches="tight")
        meta = provenance(seed=args.seed, config=config.to_dict(),
                          policies=[p.name for p in policies], units={"comparison.csv": UNITS})
        (folder.tmp / "meta.json").write_text(json.dumps(meta, indent=2, default=str) + "\n")
    with_pct = table.copy()
    for col in ("rate", "ci_low", "ci_high", "diff_vs_tau", "diff_ci_low", "diff_ci_high"):
        with_pct[col] = (100 * with_pct[col]).round(2)
    robust = bool((table["interval"] == "cluster-robust").all())
    print("rates in percent of patients and differences to tau in percentage points (95% "
          "intervals, " + ("cluster-robust by therapist)" if robust else
                           "patients treated as independent)"))
    print(with_pct.to_string(index=False))
    if not robust:
        print(f"note: {few_clusters_note(config.n_therapists)}")
    print(f"seed {args.seed}")
    print(f"wrote {args.out}/comparison.csv (proportions from 0 to 1, not percent), "
          "comparison.png, comparison.svg, meta.json")
    return 0
