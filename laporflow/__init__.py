"""laporflow package."""
