"""The front router: one OpenAI-compatible port over all instances and upstreams."""
