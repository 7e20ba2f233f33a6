"""Speaking to a chat page in its own tongue: transcripts with tool turns,
the tool catalogue, tool calls and JSON taken back out of the answer."""
