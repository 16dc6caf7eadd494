"""Analysis of which tokens the model keeps: rationale agreement and attention maps."""
