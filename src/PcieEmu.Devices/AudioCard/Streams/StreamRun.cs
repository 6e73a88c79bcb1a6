namespace PcieEmu.Devices.AudioCard.Streams;

/// <summary>
/// One run of a stream, from the RUN that started it to its stop: the program validated at its start, and its
/// timeline (spec §11.1): frame n is due at T0 + ⌈n × 10⁹ / RATE⌉, and <see cref="Frames"/> frames have moved so
/// far. <see cref="Frames"/> advances under the function lock; the rest never changes.
/// </summary>
internal sealed class StreamRun(StreamProgram program, long t0)
{
    public StreamProgram Program { get; } = program;

    /// <summary>The device time the run started at (frame 0 is due then).</summary>
    public long T0 { get; } = t0;

    /// <summary>Frames moved (and published) so far.</summary>
    public long Frames { get; private set; }

    /// <summary>When the frame count reaches <paramref name="frame"/>: T0 + ⌈frame × 10⁹ / RATE⌉ (spec §11.1).</summary>
    public long Due(long frame)
    {
        int rate = Program.Format.Rate;
        return T0 + (long)((((Int128)frame * 1_000_000_000) + rate - 1) / rate);
    }

    /// <summary>How many frames are due by <paramref name="now"/>.</summary>
    public long FramesAt(long now) => now <= T0 ? 0 : (long)((Int128)(now - T0) * Program.Format.Rate / 1_000_000_000);

    /// <summary>When the next IOC boundary after <see cref="Frames"/> is due, or long.MaxValue when none comes.</summary>
    public long NextIocDue()
    {
        long next = Program.NextIocFrame(Frames);
        return next == long.MaxValue ? long.MaxValue : Due(next);
    }

    /// <summary>The frames up to <paramref name="frames"/> moved (lock held).</summary>
    public void AdvanceTo(long frames) => Frames = frames;
}
