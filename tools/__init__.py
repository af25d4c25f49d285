"""Developer tools: the offline render (`python -m tools.render`) and its mock engine."""
