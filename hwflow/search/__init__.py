"""The search: experiments, the search space, the GA on pymoo, fitness, the driver and the flow."""
