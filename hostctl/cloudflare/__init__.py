"""Cloudflare: a tunnel for the box, and DNS records and ingress rules kept in step with
every app's hostnames. Nothing here runs until `hostctl cloudflare connect` was run."""
