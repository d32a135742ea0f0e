"""Adapters to shop-floor devices over their real protocols (scales, OPC UA, MQTT, Modbus, printers)."""
