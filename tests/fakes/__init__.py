"""Local fakes of third-party services, speaking their documented wire formats."""
