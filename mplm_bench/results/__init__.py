"""Parquet results: run directories, manifests, rows, reading back."""
