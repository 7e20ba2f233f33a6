"""What the daemon, the instance runner and the CLI share: error shapes,
serving helpers, atomic writes. Imports nothing from those packages, so none
of them has to import another to get these.
"""
