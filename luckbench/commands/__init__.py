"""One module per ``luckbench`` subcommand: ``add_parser(parser)`` and ``run(args) -> int``."""
