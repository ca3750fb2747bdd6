"""Layer 4, the book layer: Setup, parameters, plan, executor, study cache, records, verdicts, studies, plots."""
