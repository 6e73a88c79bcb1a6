namespace PcieEmu.Pci.Observation;

/// <summary>
/// Thrown by an observer to stop the stimulus it watches (a replay that diverged, or whose trace ended inside a
/// unit). It must pass through the device's own error handling (which otherwise logs and carries on) up to
/// whoever drives the function.
/// </summary>
/// <param name="message">Why the stimulus stopped.</param>
/// <param name="innerException">What caused it, if another exception did.</param>
public class ObservationStoppedException(string message, Exception? innerException = null) : Exception(message, innerException);

/// <summary>Thrown by a replaying observer when the device did something other than what the trace recorded.</summary>
/// <param name="message">What the device did and what the trace recorded instead.</param>
public sealed class TraceDivergenceException(string message) : ObservationStoppedException(message);
