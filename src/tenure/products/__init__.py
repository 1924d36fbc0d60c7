"""Products: what is sold; prices say for how much and how often."""
