"""What touches the disk: settings file, notes, the private event log, paths and atomic writes."""
