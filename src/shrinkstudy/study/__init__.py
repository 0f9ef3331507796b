"""The study's jobs on top of the stages: one module per job of the workflow, each called once by its script."""
