"""The Asterisk process: its root filesystem, its per-instance directories, its prompts."""
