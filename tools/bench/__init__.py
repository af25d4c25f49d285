"""`make bench`: what the program costs to evaluate, how it grows, how long `pulumi up` takes
and what the cluster costs per month. Pure parts (critical path, costs, statistics) are unit
tested; `tools.bench.__main__` measures in fresh child processes and writes the report."""
