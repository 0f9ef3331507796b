"""Files of the workflow: sealed Parquet and text files, the scripts' log, a stale run's lock."""
