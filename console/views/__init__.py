"""The admin web app's pages. Thin: resolve access, call one selector or service, render."""
