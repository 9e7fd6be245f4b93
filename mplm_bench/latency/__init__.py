"""Latency profiles: measuring an engine (`calibrate`) and the YAML file it writes (`profile`)."""
