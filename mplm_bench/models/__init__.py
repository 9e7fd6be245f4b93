"""Models and tokenizers: the embedded SmolLM2 model, token counting, chat templates.

Submodules import nothing heavy at import time: `tokenizer` needs only `tokenizers` and `jinja2`,
`gguf_tokenizer` adds `gguf`, and `embedded` imports torch/transformers inside the conversion only.
"""
