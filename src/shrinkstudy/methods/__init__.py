"""The estimators: their registry, the variance components, the shrinkage rules and the user's own."""
