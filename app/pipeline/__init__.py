"""The data pipeline of contextify: turning tracks and previews into features and labels."""
