"""Rebuild a training mixture from a recipe on datatrove (issue: the rebuild). Not built yet."""
