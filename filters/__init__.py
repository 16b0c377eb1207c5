"""The output PII filter: signed, hashed deletion lists and redaction (issue: output filter). Not built yet."""
