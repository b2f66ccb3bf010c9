"""docorient trainer."""
