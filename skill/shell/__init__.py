"""The shells: command line, text mode, the voice loop and setup. They join the core to its adapters."""
