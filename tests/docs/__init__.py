"""Docs as tests: the package READMEs' examples run, their field tables match the code."""
