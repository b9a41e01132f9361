"""The processing engine: envelope, batching, accumulation, jobs and the processor loop.

This is the bottom layer: it imports nothing else from livedata.
"""
