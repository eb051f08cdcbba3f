"""The pure dialogue core: data in, events in, actions out. Imports nothing from speech, storage or the shells."""
