using PcieEmu.Devices;
using PcieEmu.Tracing.Format;
using PcieEmu.VfioUser.Server;

namespace PcieEmu.Harness;

/// <summary>A card served in this process for a guest session: the device (for host-side assertions) and its server.</summary>
public sealed class CardInstance(int index, IEmulatedCard card, VfioUserServer server, string logPath, Task serverTask, TraceWriter? trace = null) : IDisposable
{
    /// <summary>The trace being recorded of this card (GuestSessionOptions.TraceDirectory), or null.</summary>
    public TraceWriter? Trace { get; } = trace;

    public int Index { get; } = index;

    public IEmulatedCard Card { get; } = card;

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
                Tracing.Recording.TraceRecording.Finish(Card, Trace);
            }
        }
        finally
        {
            Card.Dispose();
        }
    }
}
