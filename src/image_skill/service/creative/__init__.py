"""Create, edit and upload: the creative pipeline."""
