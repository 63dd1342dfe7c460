"""One module per `tinygrad-bp` sub-command: `add_parser(subparsers)` registers it."""
