"""Where accuracy evaluations run: in this process, local worker processes or a Dask cluster."""
