"""CrossGuard policy pack: rules in importable modules; __main__.py only builds the pack."""
