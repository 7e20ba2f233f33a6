"""mictl-instance: one profile, one headless browser, one OpenAI-compatible port."""
