"""Pure renderers: plain values in, str or dict out; no Pulumi."""
