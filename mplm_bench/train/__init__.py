"""Train small protocol models from scratch on the project's own `export-sft` traces
(docs/training.md). torch and transformers are imported inside the functions that need them."""
