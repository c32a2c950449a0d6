"""One module per experiment, each declaring it (declaration.Experiment); registry.py lists them."""
