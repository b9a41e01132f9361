"""Dashboard policy: pure decisions (which plotter fits, what to re-render, how to scale,
grids as data). No Panel, no HoloViews, no Kafka: tested with plain pytest."""
