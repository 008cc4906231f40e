"""What a plugin can reach beyond the Temporal API: outbound HTTP through the
host (`activity_host.http`).

The build installs it before importing the activity module, so the standard
library, httpx and requests work unchanged; nothing here needs importing by
hand unless a transport is passed explicitly.
"""
