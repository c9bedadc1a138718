"""Performance and quality benchmarks (`make bench`, `make bench-quality`)."""
