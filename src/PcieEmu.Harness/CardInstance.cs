using PcieEmu.Devices;
using PcieEmu.Pci.Hosting;
using PcieEmu.Tracing.Format;
using PcieEmu.VfioUser.Server;

namespace PcieEmu.Harness;

/// <summary>
/// A card or a user's device (<see cref="GuestSessionOptions.Devices"/>) served in this process for a guest session:
/// the device (for host-side assertions) and its server.
/// </summary>
public sealed class CardInstance(int index, IPciDevice device, VfioUserServer server, string logPath, Task serverTask, TraceWriter? trace = null) : IDisposable
{
    /// <summary>The trace being recorded of this card (GuestSessionOptions.TraceDirectory), or null.</summary>
    public TraceWriter? Trace { get; } = trace;

    public int Index { get; } = index;

    /// <summary>The device served (a card of a model file, or a user's device).</summary>
    public IPciDevice Device { get; } = device;

    /// <summary>The card of a model file; a user's device is not one (use <see cref="Device"/>).</summary>
    public IEmulatedCard Card => Device as IEmulatedCard
        ?? throw new InvalidOperationException($"device {Index} ({Device.Function.Name}) is a user's device, not a card of a model file: use Device");

    public VfioUserServer Server { get; } = server;

    public string LogPath { get; } = logPath;

    internal Task ServerTask { get; } = serverTask;

    /// <summary>The active session, or the last one after the client left.</summary>
    public VfioUserConnection? Connection => Server.Current ?? Server.Last;

    public void Dispose()
    {
        Server.Dispose();
        ServerTask.Wait(TimeSpan.FromSeconds(10));
        try
        {
            // The client is gone: the trace ends here, not with the card's own teardown.
            if (Trace is not null)
            {
                Tracing.Recording.TraceRecording.Finish(Device, Trace);
            }
        }
        finally
        {
            Device.Dispose();
        }
    }
}
