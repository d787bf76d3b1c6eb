"""Network helpers: local file servers, per-host limits, Retry-After, the host policy and the yt-dlp downloader."""
