"""Pure routing decisions: no I/O, no clocks that cannot be injected."""
