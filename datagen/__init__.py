"""docorient datagen: PDFs -> rotated page images (by strategy) with artifact masks -> WebDataset shards."""
__version__ = "0.1.0"
