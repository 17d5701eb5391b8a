"""``setback compare-policies``: the same clinic under several policies, paired with TAU."""

from __future__ import annotations

import argparse

from analyses.commands.simulate import add_clinic_options, clinic_config
from simulations import compare_policies, policy_from_name


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
    parser.add_argument("--policies", default="tau,feedback,feedback+cst,alliance-repair",
                        help="comma-separated policy names (tau is always included)")
    add_clinic_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Validate, compare, write ``comparison.csv`` and print it."""
    config = clinic_config(args)
    names = [n.strip() for n in args.policies.split(",") if n.strip()]
    if not names:
        raise ValueError("--policies must name at least one policy")
    policies = [policy_from_name(n) for n in names]
    table = compare_policies(config, policies, seed=args.seed, progress=not args.quiet)
    args.out.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out / "comparison.csv", index=False)
    with_pct = table.copy()
    for col in ("rate", "ci_low", "ci_high", "diff_vs_tau", "diff_ci_low", "diff_ci_high"):
        with_pct[col] = (100 * with_pct[col]).round(2)
    print("rates and differences to tau in percentage points (95% intervals)")
    print(with_pct.to_string(index=False))
    print(f"wrote {args.out}/comparison.csv")
    return 0
