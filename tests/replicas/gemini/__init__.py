"""A replica of gemini.google.com (app.py)."""
