"""What the study writes: tables, figures, captions, the protocol, the findings and the provenance."""
