"""A small replica of a Claude-style web chat (SSE answers): docs/sites.md's worked example."""
