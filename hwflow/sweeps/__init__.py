"""Parameter sweeps: a grid of experiments or evaluations, run point by point, tabulated and plotted."""
