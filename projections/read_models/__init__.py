"""The read models this application runs; chatalot/bootstrap.py lists which, per context."""
