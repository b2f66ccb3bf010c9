"""docorient interpret."""
