"""The config: its schema (schema.py, with ranges, fleet and groups), loading
and checking a file (loader.py, checks.py, defaults.py), and the parsers of
config values (expansions, compat, dns_target, shards)."""
