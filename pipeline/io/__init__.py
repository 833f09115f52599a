"""Reading export files: encodings, CSV and XLSX readers, header aliases, kind detection.

Nothing in here knows about the database.
"""
