"""The ``neuroplast`` command line: one module per subcommand, each a parser and a run function."""
