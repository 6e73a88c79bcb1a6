using PcieEmu.Devices;
using PcieEmu.Pci.Hosting;
using PcieEmu.Tracing.Format;
using PcieEmu.VfioUser.Server;

namespace PcieEmu.Harness;

/// <summary>
/// A card or a user's device (<see cref="GuestSessionOptions.Devices"/>) served in this process for a guest session:
/// the device (for host-side assertions) and its server. The session creates one per card and disposes it at the
/// end (<see cref="GuestSession.Cards"/>); read its device's state from any thread while the guest runs.
/// </summary>
public sealed class CardInstance : IDisposable
{
    internal CardInstance(int index, IPciDevice device, VfioUserServer server, string logPath, Task serverTask, TraceWriter? trace = null)
    {
        Index = index;
        Device = device;
        Server = server;
        LogPath = logPath;
        ServerTask = serverTask;
        Trace = trace;
    }

    /// <summary>The trace being recorded of this card (GuestSessionOptions.TraceDirectory), or null.</summary>
    public TraceWriter? Trace { get; }

    /// <summary>The card's place in the session, from 0 (model files first, then device types): its slot (<see cref="CardSlots"/>) and the N of server-N.log.</summary>
    public int Index { get; }

    /// <summary>The device served (a card of a model file, or a user's device).</summary>
    public IPciDevice Device { get; }

    /// <summary>The card of a model file; a user's device is not one (use <see cref="Device"/>).</summary>
    public IEmulatedCard Card => Device as IEmulatedCard
        ?? throw new InvalidOperationException($"device {Index} ({Device.Function.Name}) is a user's device, not a card of a model file: use Device");

    /// <summary>The vfio-user server QEMU connects to for this card (one client at a time).</summary>
    public VfioUserServer Server { get; }

    /// <summary>The card's server log: everything the device and its server logged.</summary>
    public string LogPath { get; }

    internal Task ServerTask { get; }

    /// <summary>The active session, or the last one after the client left.</summary>
    public VfioUserConnection? Connection => Server.Current ?? Server.Last;

    /// <summary>Stops the server (waiting up to 10 s), finishes the trace, disposes the device. The session calls it.</summary>
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
