"""Images a client sends (`image_url` parts): decoded, fetched within limits
and with no way into private addresses, then put into the page (sites/upload.py)."""
