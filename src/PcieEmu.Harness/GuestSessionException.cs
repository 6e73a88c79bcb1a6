namespace PcieEmu.Harness;

/// <summary>
/// A guest session could not start or a guest command failed: QEMU exited early, the guest did not come up, a command
/// timed out or (<see cref="GuestSession.RunCheckedAsync"/>) exited non-zero. The message ends with the paths and tails of
/// the QEMU, server and console logs, which are kept.
/// </summary>
/// <param name="message">What failed, then the logs.</param>
/// <param name="inner">The agent, QMP or socket error behind it, if any.</param>
public sealed class GuestSessionException(string message, Exception? inner = null) : Exception(message, inner);
