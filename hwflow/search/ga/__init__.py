"""The GA pieces on pymoo: the problem, operators, algorithms and SOGA."""
