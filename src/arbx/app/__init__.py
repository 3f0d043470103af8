"""Use cases: one class each, orchestrating the domain and the ports."""
