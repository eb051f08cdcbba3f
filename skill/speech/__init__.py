"""Speech adapters: recognizers and their models, the endpointer, audio devices and the voice."""
