"""Built-in instruments, each a package found through the ``livedata.instruments`` entry points."""
