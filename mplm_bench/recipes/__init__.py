"""Reproduction recipes: one YAML file per published result (configs/recipes/), its run and the
paper's figures beside the measured ones (`mplm-bench recipe list`, `recipe run NAME`)."""
