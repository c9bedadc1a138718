"""Console scripts: argument parsing and printing over the package's plain functions."""
