"""Which path carries traffic, and the transitions between paths. Pure: no Azure SDK imports."""
