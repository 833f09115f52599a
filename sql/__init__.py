"""The SQL models. The build installs this folder as the package `pipeline._sql` (setup.py), so
that an installed shortship carries them; the code finds them through pipeline.resources."""
