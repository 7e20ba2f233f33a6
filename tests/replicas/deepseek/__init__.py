"""A replica of chat.deepseek.com (app.py) for the site file's tests."""
