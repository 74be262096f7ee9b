"""Run directories: the SQLite store and its settings, front selection, CSV reports and plots."""
