"""Reduction building blocks: histogram kernels and the workflows jobs run.

Each workflow module holds a params model, the output templates a client sees before
data arrives, and the workflow class; instruments pair them into specs and factories.
"""
