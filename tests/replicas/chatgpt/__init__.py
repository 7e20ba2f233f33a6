"""A replica of chatgpt.com for the site tests."""
