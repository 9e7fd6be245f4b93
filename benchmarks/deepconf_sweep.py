"""DeepConf against self-consistency on the noisy scripted backend: a sweep over the online stop
threshold, accuracy against generated tokens (docs/deepconf.md "Measured").

Sudoku 4x4, `-M error_rate=0.8` (about half the traces end wrong), the scripted backend's seeded
confidence signal (backends/confidence_signal.py), 16 traces per sample for every point: `sc`
with `-S k=16`; `deepconf` online with a fixed `-S threshold` (no warm-up) over a range, and with
the warm-up's DeepConf-low (percentile 90) and DeepConf-high (percentile 10) thresholds; offline
with top 10% and top 90%. Prints a markdown table and draws accuracy against mean generated
tokens per sample. About a minute on two cores.

    python benchmarks/deepconf_sweep.py [--n 50] [--out results/deepconf] [--figure docs/deepconf_sweep.png]
"""

from __future__ import annotations

import argparse
from pathlib import Path

THRESHOLDS = (2.5, 2.6, 2.7, 2.8, 2.9, 3.0)


def points() -> list[tuple[str, str, dict]]:
    out = [("sc k=16", "sc", {"k": 16})]
    out += [(f"online threshold={t}", "deepconf", {"mode": "online", "total_budget": 16, "threshold": t})
            for t in THRESHOLDS]
    out += [("online DeepConf-low (p90 of warm-up)", "deepconf", {"mode": "online", "total_budget": 16}),
            ("online DeepConf-high (p10 of warm-up)", "deepconf",
             {"mode": "online", "total_budget": 16, "confidence_percentile": 10}),
            ("offline top 10%", "deepconf", {"mode": "offline", "total_budget": 16, "top_percent": 0.1}),
            ("offline top 90%", "deepconf", {"mode": "offline", "total_budget": 16, "top_percent": 0.9})]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50)
    parser.add_argument("--error-rate", type=float, default=0.8)
    parser.add_argument("--out", type=Path, default=Path("results/deepconf"))
    parser.add_argument("--figure", type=Path, action="append",
                        help="figure file(s) to write (default: docs/deepconf_sweep.png)")
    args = parser.parse_args()

    import pandas as pd

    from mplm_bench import run

    rows = []
    for label, strategy, opts in points():
        r = run("sudoku", strategy, backend="scripted", n=args.n, task_options={"size": 4}, out=args.out,
                strategy_options=opts, backend_options={"error_rate": args.error_rate})
        s = pd.read_parquet(r.dir / "samples")
        rows.append({"point": label, "strategy": strategy, "accuracy": s["correct"].mean(),
                     "gen_tokens": s["gen_tokens"].mean(),
                     "traces_started": s.get("traces_started", pd.Series([16.0])).mean(),
                     "traces_stopped_early": s.get("traces_stopped_early", pd.Series([0.0])).mean(),
                     "tokens_saved": s.get("tokens_saved", pd.Series([0.0])).mean(),
                     "run": r.dir.name})
    table = pd.DataFrame(rows)
    print(f"sudoku 4x4, scripted, error_rate={args.error_rate}, n={args.n}, 16 traces per sample\n")
    print("| point | accuracy | gen tokens / sample | traces started | stopped early | tokens saved | run |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['point']} | {r['accuracy']:.0%} | {r['gen_tokens']:,.0f} | {r['traces_started']:.1f} | "
              f"{r['traces_stopped_early']:.1f} | {r['tokens_saved']:,.0f} | `{r['run']}` |")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    online = table[table["point"].str.startswith("online threshold")]
    ax.plot(online["gen_tokens"], online["accuracy"], "-o", color="#0072B2", label="deepconf online, fixed threshold")
    for _, r in online.iterrows():
        ax.annotate(r["point"].split("=")[1], (r["gen_tokens"], r["accuracy"]), textcoords="offset points",
                    xytext=(4, -10), fontsize=8, color="#0072B2")
    marks = {"sc k=16": ("v", "#CC79A7"), "online DeepConf-low (p90 of warm-up)": ("s", "#D55E00"),
             "online DeepConf-high (p10 of warm-up)": ("D", "#E69F00"), "offline top 10%": ("^", "#009E73"),
             "offline top 90%": ("P", "#56B4E9")}
    for label, (m, colour) in marks.items():
        r = table[table["point"] == label].iloc[0]
        ax.plot([r["gen_tokens"]], [r["accuracy"]], m, color=colour, markersize=8, label=label, linestyle="none")
    ax.set_xlabel("generated tokens per sample (mean)")
    ax.set_ylabel("accuracy")
    ax.set_title(f"Sudoku 4x4, scripted, error_rate={args.error_rate}, 16 traces")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    for path in args.figure or [Path("docs/deepconf_sweep.png")]:
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=120)
        print(path)


if __name__ == "__main__":
    main()
