"""Analyses of the harvested store that pages show: plain functions over data frames, tested without Dash."""
