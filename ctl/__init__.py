"""mictl: the command-line client of mictld."""
