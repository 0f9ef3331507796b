"""How the estimators did: per-replication losses, the measures and their Monte Carlo error, precision plans."""
