"""Tests of the Enhance page: learning the user's own playlists, the imbalance study, and adding suggestions."""
