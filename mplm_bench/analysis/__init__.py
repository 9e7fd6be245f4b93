"""Analysis on Parquet runs only (never re-runs a model): load, report, plots, compare, check."""
