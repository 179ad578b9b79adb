"""The Image Skill HTTP service (FastAPI). Never imported on the CLI's hosted path."""
