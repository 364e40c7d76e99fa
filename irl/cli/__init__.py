"""The ``irl`` command line: thin parsing and printing over the library."""
