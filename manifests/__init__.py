"""EU AI Act transparency documents computed from a run (issue: documents). Not built yet."""
