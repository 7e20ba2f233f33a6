"""A local replica of arena.ai (LMArena) for tests: see app.py."""
