"""chatmem: a terminal chatbot built on Memory Networks (Weston, Chopra & Bordes, 2014).

Heavy dependencies (torch, spaCy, sentence-transformers) are imported lazily so
that `import chatmem` and `chatmem --help` stay fast.
"""

__version__ = "0.1.0"


class ChatmemError(Exception):
    """An error meant for the user: printed as one line, never as a traceback."""
