"""The tables, created idempotently when the API starts, and the migration
of a database made by an earlier version of the API."""

# Any constant works as long as every replica uses the same one: it serialises
# concurrent CREATE TABLE IF NOT EXISTS, which can otherwise fail with a
# duplicate key in pg_type when two replicas start at once.
SCHEMA_LOCK_ID = 4_217_306_981

STATEMENTS = (
    """
    CREATE TABLE IF NOT EXISTS users (
        id VARCHAR(50) PRIMARY KEY,
        username VARCHAR(50) NOT NULL UNIQUE,
        password TEXT NOT NULL,
        fullname TEXT NOT NULL
    )
    """,
    # Refresh tokens: only their SHA-256 (hex) and when they stop working.
    """
    CREATE TABLE IF NOT EXISTS authentications (
        token_hash CHAR(64) PRIMARY KEY,
        expires_at TIMESTAMPTZ NOT NULL
    )
    """,
    # Earlier versions kept the tokens themselves, without expiry, in a column
    # `token`. Their holders stay logged in: each token becomes its digest
    # with a full age from now. Does nothing once migrated.
    """
    DO $$
    BEGIN
        IF EXISTS (SELECT FROM information_schema.columns WHERE table_schema = current_schema()
                   AND table_name = 'authentications' AND column_name = 'token') THEN
            ALTER TABLE authentications ADD COLUMN token_hash CHAR(64), ADD COLUMN expires_at TIMESTAMPTZ;
            UPDATE authentications SET token_hash = encode(sha256(convert_to(token, 'UTF8')), 'hex'),
                                       expires_at = now() + make_interval(secs => %(refresh_token_age)s);
            ALTER TABLE authentications DROP COLUMN token;
            ALTER TABLE authentications ADD PRIMARY KEY (token_hash), ALTER COLUMN expires_at SET NOT NULL;
        END IF;
    END
    $$
    """,
    "CREATE INDEX IF NOT EXISTS authentications_expires_at_idx ON authentications (expires_at)",
    """
    CREATE TABLE IF NOT EXISTS albums (
        id VARCHAR(50) PRIMARY KEY,
        name TEXT NOT NULL,
        year INTEGER NOT NULL
    )
    """,
    # Deleting an album deletes its songs, as in the course's app.
    """
    CREATE TABLE IF NOT EXISTS songs (
        id VARCHAR(50) PRIMARY KEY,
        title TEXT NOT NULL,
        year INTEGER NOT NULL,
        genre TEXT NOT NULL,
        performer TEXT NOT NULL,
        duration INTEGER,
        album_id VARCHAR(50) REFERENCES albums(id) ON DELETE CASCADE
    )
    """,
    "CREATE INDEX IF NOT EXISTS songs_album_id_idx ON songs (album_id)",
    """
    CREATE TABLE IF NOT EXISTS playlists (
        id VARCHAR(50) PRIMARY KEY,
        name TEXT NOT NULL,
        owner VARCHAR(50) NOT NULL REFERENCES users(id) ON DELETE CASCADE
    )
    """,
    "CREATE INDEX IF NOT EXISTS playlists_owner_idx ON playlists (owner)",
    """
    CREATE TABLE IF NOT EXISTS playlist_songs (
        playlist_id VARCHAR(50) NOT NULL REFERENCES playlists(id) ON DELETE CASCADE,
        song_id VARCHAR(50) NOT NULL REFERENCES songs(id) ON DELETE CASCADE,
        PRIMARY KEY (playlist_id, song_id)
    )
    """,
    "CREATE INDEX IF NOT EXISTS playlist_songs_song_id_idx ON playlist_songs (song_id)",
)


def create_schema(cursor, refresh_token_age):
    """Create missing tables, migrate old ones; run inside a transaction (the
    lock ends with it)."""
    cursor.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK_ID,))
    for statement in STATEMENTS:
        cursor.execute(statement, {"refresh_token_age": refresh_token_age})
