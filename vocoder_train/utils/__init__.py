"""Small shared helpers (checkpoint I/O)."""
