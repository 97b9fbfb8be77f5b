"""The shared access layer: which study a caller may act in, with which role, and what that
role may see. The API, exports and (later) the console all go through it."""
