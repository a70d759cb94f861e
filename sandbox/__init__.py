"""A local emulation of Spotify, Deezer and ReccoBeats over real HTTP, with a generated music world."""
