"""Run directories: the SQLite store, checkpoints and locks, CSV reports and plots."""
