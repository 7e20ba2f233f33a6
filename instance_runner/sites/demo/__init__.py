"""The bundled demo chat site: a stand-in for the chat web apps we cannot reach."""
