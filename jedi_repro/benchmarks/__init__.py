"""Benchmarks on real data, as package functions (the CLI's `jedi bench` is a thin parser over them)."""
