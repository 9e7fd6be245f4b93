"""The message-passing core: pure, deterministic, no I/O and no engine imports."""
