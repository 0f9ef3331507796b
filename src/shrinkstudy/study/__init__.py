"""The study's jobs, on top of the stages (design, methods, evaluate, report): one module per job
of the workflow (``simulate``, ``fit``, ``plan``, ``aggregate``, ``seed_example``, ``figures``,
``findings``, ``protocol``), each function called once by its script with plain values and paths
from Snakemake, its output sent to the rule's log. A job's module imports what that job uses and
nothing more: the workflow reruns a job when a module it imports changes."""
