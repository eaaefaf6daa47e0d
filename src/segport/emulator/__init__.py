"""An emulator of Constant Contact's V3 API and OAuth server, for the demo, the tests and the benchmarks."""

from segport.emulator.adapters import EmulatorASGI, EmulatorTransport
from segport.emulator.core import Emulator
from segport.emulator.faults import Fault, FaultSchedule, FaultSyntaxError
from segport.emulator.settings import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, EmulatorSettings

__all__ = [
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "Emulator",
    "EmulatorASGI",
    "EmulatorSettings",
    "EmulatorTransport",
    "Fault",
    "FaultSchedule",
    "FaultSyntaxError",
]
