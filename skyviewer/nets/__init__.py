"""The learned sky models: start generator, step model, discriminators, shared blocks."""
