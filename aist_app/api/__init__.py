"""The stage API every layer may import: the contracts stages implement, the events and
progress they yield, the registry and the plugin manager (docs/architecture.md)."""
