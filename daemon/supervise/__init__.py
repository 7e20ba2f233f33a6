"""Supervision: supervisord's state machine, one process's shell around it,
all programs of one daemon, their logs, and what they leave behind."""
