"""Layer 5, building the book: execute chapters in their own processes, stage and render them offline."""
