"""One client module per outside service (Deezer, ReccoBeats, Spotify), sharing the retry rules in `base`."""
