"""The wire: codecs between Kafka payloads and the domain values of ``livedata.core``.

Flatbuffer codecs (ev44, f144, ad00, da00, pl72/6s4t, ROIs) validate untrusted bytes
and raise :class:`livedata.protocol.errors.DecodeError` with a machine-readable reason
for anything they cannot turn into a domain value; JSON models cover commands,
responses and heartbeats.
"""
