"""Pure renderers: typed inputs in, configuration text out. No Pulumi in here."""
