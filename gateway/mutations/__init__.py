"""The schema's mutations, one per module: input, success and errors."""
