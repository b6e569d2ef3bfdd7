"""Tools for testing genstudio itself (the test suite and the benchmarks use them; the studio never imports them)."""
