using Microsoft.Extensions.Logging;
using PcieEmu.Devices.AudioCard;
using PcieEmu.Harness;
using PcieEmu.Pci.Checking;

[assembly: CollectionBehavior(DisableTestParallelization = true)]

namespace PcieEmu.Integration.Tests;

/// <summary>
/// Boots one guest per test class (a boot costs seconds, a command milliseconds). Provisioning runs on
/// demand; when it or the boot fails, every test of the class fails with the reason and the QEMU, server and
/// console logs — nothing is skipped.
/// </summary>
public abstract class GuestFixture : IAsyncLifetime
{
    private readonly HashSet<string> _expectedViolations = new(StringComparer.Ordinal);
    private Exception? _startFailure;
    private GuestSession? _session;

    protected virtual GuestSessionOptions Options => new();

    public GuestSession Session => _session ?? throw new InvalidOperationException($"the guest did not start:\n{_startFailure}");

    public CardInstance Card => Session.Cards[0];

    public AudioCard Audio => (AudioCard)Card.Card;

    /// <summary>The violations (not warnings) the first card recorded so far, in order.</summary>
    public IReadOnlyList<RuleViolation> AudioViolations() => [.. Audio.Checker.Snapshot().Where(v => v.IsViolation)];

    public static ILoggerFactory Loggers { get; } = LoggerFactory.Create(b => b.SetMinimumLevel(LogLevel.Warning).AddSimpleConsole());

    public async Task InitializeAsync()
    {
        try
        {
            _session = await GuestSession.StartAsync(Options, Loggers);
        }
        catch (Exception e)
        {
            _startFailure = e;
        }
    }

    /// <summary>
    /// Ends the guest, then checks that the driver broke no rule of the card (the shutdown path included) beyond
    /// those a test declared with <see cref="ExpectViolations"/>: the first unexpected report fails the class.
    /// </summary>
    public virtual async Task DisposeAsync()
    {
        if (_session is not null)
        {
            await _session.DisposeAsync();
            string[] expected;
            lock (_expectedViolations)
            {
                expected = [.. _expectedViolations];
            }

            _session.AssertNoViolations(expected);
        }
    }

    /// <summary>Declares rules a test of this class provokes on purpose; the teardown check lets them through.</summary>
    public void ExpectViolations(params string[] rules)
    {
        lock (_expectedViolations)
        {
            _expectedViolations.UnionWith(rules);
        }
    }

    /// <summary>Runs a guest command that must succeed; on failure the message carries the logs.</summary>
    public Task<string> Run(string script) => Session.RunCheckedAsync(script);
}

/// <summary>The default card with our driver loaded, guest RAM shared (DMA through mmap).</summary>
public sealed class DriverGuest : GuestFixture;

/// <summary>The default card without any driver (the BARs are free for devmem).</summary>
public sealed class BareGuest : GuestFixture
{
    protected override GuestSessionOptions Options => new() { LoadDrivers = false };
}

/// <summary>Guest RAM without an fd: every DMA_MAP comes fd-less, so device DMA travels as DMA_READ/DMA_WRITE messages.</summary>
public sealed class UnsharedRamGuest : GuestFixture
{
    protected override GuestSessionOptions Options => new() { SharedMemory = false };
}

/// <summary>Two cards, each behind its own root port.</summary>
public sealed class TwoCardGuest : GuestFixture
{
    protected override GuestSessionOptions Options => new() { ModelPaths = [PcieEmu.Devices.DataFiles.DefaultModelPath, PcieEmu.Devices.DataFiles.DefaultModelPath] };
}
