"""Do communicating threads think alike? The protocols side by side on noisy 9x9 Sudoku at three
conformity levels (`configs/diversity.yaml`; docs/metrics.md, "Diversity and influence").

Runs the sweep (scripted backend, `-M error_rate=0.1`, `-M conformity` 0, 0.5, 1; 50 instances;
about 30 s on two cores), prints `report --kind diversity` as markdown and draws
`plot --kind diversity` (accuracy against conformity, one line per strategy).

    python benchmarks/diversity.py [--out results/diversity] [--figure docs/diversity.png ...]
"""

from __future__ import annotations

import argparse
from pathlib import Path

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "diversity.yaml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("results/diversity"))
    parser.add_argument("--figure", type=Path, action="append",
                        help="figure file(s) to write (default: docs/diversity.png and .svg)")
    args = parser.parse_args()

    from mplm_bench.analysis.diversity_plot import plot_diversity
    from mplm_bench.analysis.diversity_report import report
    from mplm_bench.sweep_config import load_sweep
    from mplm_bench.sweep_run import run_sweep

    if run_sweep(load_sweep(CONFIG), out=args.out, quiet=True) != 0:
        raise SystemExit("the sweep did not complete")
    print(report([str(args.out)], "markdown"), end="")
    for path in plot_diversity([str(args.out)], args.figure or [Path("docs/diversity.png"),
                                                               Path("docs/diversity.svg")]):
        print(path)


if __name__ == "__main__":
    main()
