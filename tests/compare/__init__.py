"""Tests of the Compare page: invites, the whose-song network, and the flow against the sandbox."""
