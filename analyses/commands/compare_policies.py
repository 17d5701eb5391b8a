"""``setback compare-policies``: the same clinic under several policies, paired with TAU."""

from __future__ import annotations

import argparse
import warnings

from analyses.commands._types import name_list
from analyses.commands.simulate import add_clinic_options, clinic_config
from analyses.outputs import OutputFolder
from simulations import compare_policies, policy_from_name
from simulations.clinic.outcomes import FewClustersWarning, few_clusters_note


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``compare-policies`` subcommand."""
    parser = sub.add_parser(
        "compare-policies",
        help="compare policies on the same simulated patients",
        description="Simulate the same patients, therapists and noise (common random numbers) "
        "under each policy and write DIR/comparison.csv: per policy, subgroup (all / NOT) "
        "and outcome, the rate with its 95% interval and the paired difference to "
        "treatment as usual with its interval. Outcomes at the end of treatment and at the "
        "common follow-up horizon (*_horizon: week 26, every patient, whatever ended "
        "treatment), and the shares of ruptures noticed and resolved.",
    )
    parser.add_argument("--policies", default=["tau", "feedback", "feedback+cst",
                                               "alliance-repair"],
                        type=name_list(policy_from_name, "policy"),
                        help="comma-separated policy names (tau is always included; default "
                        "tau,feedback,feedback+cst,alliance-repair)")
    add_clinic_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Validate, compare, write ``comparison.csv`` and print it."""
    config = clinic_config(args)
    policies = [policy_from_name(n) for n in args.policies]
    folder = OutputFolder(args.out, "compare-policies", overwrite=args.overwrite)
    with warnings.catch_warnings():  # the note below says it instead
        warnings.simplefilter("ignore", FewClustersWarning)
        table = compare_policies(config, policies, seed=args.seed, progress=not args.quiet)
    with folder:
        table.to_csv(folder.tmp / "comparison.csv", index=False)
    with_pct = table.copy()
    for col in ("rate", "ci_low", "ci_high", "diff_vs_tau", "diff_ci_low", "diff_ci_high"):
        with_pct[col] = (100 * with_pct[col]).round(2)
    robust = bool((table["interval"] == "cluster-robust").all())
    print("rates and differences to tau in percentage points (95% intervals, "
          + ("cluster-robust by therapist)" if robust else "patients treated as independent)"))
    print(with_pct.to_string(index=False))
    if not robust:
        print(f"note: {few_clusters_note(config.n_therapists)}")
    print(f"wrote {args.out}/comparison.csv")
    return 0
