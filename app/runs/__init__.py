"""Run bookkeeping (a job's row, its progress, its summary): the bottom layer above storage."""
