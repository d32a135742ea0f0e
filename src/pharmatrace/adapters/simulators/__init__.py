"""Device simulators that speak the real protocols on loopback, for tests and the demo."""
