namespace PcieEmu.Pci.Observation;

/// <summary>
/// Thrown by a replaying sink when the device did something other than what the trace recorded. It must pass
/// through the device's own error handling (which otherwise logs and carries on) up to the replayer.
/// </summary>
public sealed class TraceDivergenceException(string message) : Exception(message);
