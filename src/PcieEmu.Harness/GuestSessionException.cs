namespace PcieEmu.Harness;

public sealed class GuestSessionException(string message, Exception? inner = null) : Exception(message, inner);
