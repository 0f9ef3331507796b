"""The study's design: its cells (group sizes, worlds, seeds) and the datasets simulated from them."""
