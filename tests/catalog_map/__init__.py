"""Tests of the Map page: scatter, clusters, genre model and predictor."""
