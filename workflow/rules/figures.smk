# Figures: filled in with the figure scripts.
FIGURE_TARGETS = []
