"""Azure Resource Manager simulator for Microsoft.Network (development and tests only; never deployed).

Start it with :class:`hybridnet_dev.armsim.runner.SimulatorThread` (tests) or
``python -m hybridnet_dev.armsim --spec FILE`` (CLI); drive the physical model with
:class:`hybridnet_dev.armsim.control.SimControl`.
"""
