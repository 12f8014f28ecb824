"""The admin web app's reads: each page's figures, composed from the apps' selectors and the
rollups (never a scan of raw events over a range)."""
