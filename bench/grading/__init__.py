"""Grading: decision rules applied to measured IL, cable verdicts, re-tests, lot statistics and grade tables.

Pure computation on records and recipes: no instruments, no files other than the grade tables and a store read.
"""
