"""mplm-bench: a benchmark harness for LLM reasoning strategies over one message-passing runtime."""

__version__ = "0.1.0"
