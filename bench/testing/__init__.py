"""Testing your own procedures, recipes and station files against the virtual bench.

`bench.testing.plugin` is a pytest plugin, loaded automatically where mpo-bench is installed;
see docs/testing-your-own.md. This package imports nothing, so loading the plugin is free.
"""
