"""Site adapters: declarative site files read by one generic adapter."""
