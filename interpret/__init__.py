"""docorient interpret: attribution maps, artifact-attention metrics, shortcut tests, comparisons."""
