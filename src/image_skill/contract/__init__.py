"""Wire contract shared by the CLI and the service.

Kept free of heavy imports: the CLI's hosted path loads only this package,
the SDK and the standard library.
"""
