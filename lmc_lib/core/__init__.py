"""Layer 1, core: config and profiles, data, models, training (one model or a stacked group), the model cache."""
