"""The model and capability catalog, parameter validation and pricing."""
