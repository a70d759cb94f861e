"""A user's accounts: the signed session that remembers who is logged in, the encrypted token store and
Spotify access, and the plain-words errors jobs and services raise (the login routes are in app/web/login.py)."""
