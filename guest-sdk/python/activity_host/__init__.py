"""What a plugin can reach beyond the Temporal API: outbound HTTP through the
host (`activity_host.http`) and PostgreSQL through the host's pools
(`activity_host.postgres`, a DB-API module shaped like psycopg 3).

The build installs `http` before importing the activity module, so the
standard library, httpx and requests work unchanged; nothing there needs
importing by hand unless a transport is passed explicitly. `postgres` is
imported by the plugins that use it: `from activity_host import postgres`.
"""
