"""Command-line interface: thin click commands that parse options and call the library."""
