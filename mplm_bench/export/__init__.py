"""Training traces from the scripted reference policies (`mplm-bench export-sft`).

steps.py runs samples through the code `run` uses and collects each step; select.py chooses rows
(split by problem, worker down-sampling, de-duplication, master up-sampling); writer.py writes the
splits into a staged folder; card.py writes the dataset card; sft.py ties them together.
"""
