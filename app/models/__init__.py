"""The model layer: learns what each context sounds like and sorts a library into contexts."""
