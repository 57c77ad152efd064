"""The store: what outlives a browser session (a student's exported models), on SQLAlchemy Core.

SQLite in a data folder by default (no configuration), PostgreSQL when ``CONVLAB_DATABASE_URL`` is set
(every replica then sees the same rows). Never imports streamlit; the ui opens one ``Store`` per server.
"""
