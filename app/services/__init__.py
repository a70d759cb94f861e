"""What the Library & sort and Save pages do with a user's sorted library: select, save to Spotify, export."""
