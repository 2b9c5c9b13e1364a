"""Pipulate: step-by-step workflows for pulling crawl data out of Botify, run locally."""
