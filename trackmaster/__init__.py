"""TrackMaster's domain: what the app knows. Imports neither web nor workers."""

__version__ = "0.1.0"
