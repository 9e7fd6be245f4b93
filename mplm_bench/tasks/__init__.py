"""Task plugins: instances, prompts per protocol, scoring and scripted reference policies."""
