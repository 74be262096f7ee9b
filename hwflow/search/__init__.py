"""The search: pymoo problem, operators, SOGA, front selection, experiments, the run driver."""
